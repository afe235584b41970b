package local

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// srunDir is where, under the job's TMPDIR, the exec stage puts the srun
// shim that comes first on the job's PATH.
const srunDir = ".gf-bin"

// writeSrun writes the srun shim into the job's tmp/ (its TMPDIR, its /tmp
// when gf runs as root) and returns the shim's directory relative to it.
// The exec stage calls it after the privilege drop, so the job's own
// rights make the file, beneath the job's directory and following no
// symlink: whatever a previous attempt left there is the job's own, and a
// planted link is refused rather than followed. A shell script, rather
// than the gf binary, because the job reaches its TMPDIR under any
// confinement (Landlock, a private /tmp, another account) and may reach
// nothing else of the server's.
func writeSrun(jobfd, tasks int) (string, error) {
	tmp, err := jobpath.OpenBeneath(jobfd, "tmp", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(tmp)
	if err := unix.Mkdirat(tmp, srunDir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", err
	}
	rel := srunDir + "/srun"
	dir, err := jobpath.OpenBeneath(tmp, srunDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(dir)
	if err := unix.Unlinkat(dir, "srun", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return "", err
	}
	fd, err := jobpath.OpenBeneath(tmp, rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o700)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	if _, err := f.WriteString(srunScript(tasks)); err != nil {
		return "", err
	}
	return srunDir, f.Close()
}

// srunScript is the srun shim for a job that asked for tasks tasks (0: it
// named none). It runs `srun [OPTIONS] CMD [ARGS]` as srun would inside a
// one-node allocation: CMD once per task, all at once, each with
// SLURM_PROCID, SLURM_LOCALID and SLURM_NODEID, and exits with the highest
// exit status of the copies (non-zero when any failed). The count is -n or
// --ntasks, else SLURM_NTASKS when the job named its tasks, else one, with
// a warning. srun's own options are skipped, those that take a value with
// their value (-n 4 and --mpi pmix as well as -n4 and --mpi=pmix); -c sets
// SLURM_CPUS_PER_TASK for the copies and -l prefixes each line with the
// task's number. POSIX sh, so it runs wherever the job's shell does.
func srunScript(tasks int) string {
	known := ""
	if tasks > 0 {
		known = strconv.Itoa(tasks)
	}
	return strings.Replace(srunTemplate, "@TASKS@", known, 1)
}

// srunValued are srun's options that take a value, which may come as the
// next argument: its short letters and its long names.
const (
	srunValuedShort = "ABCDGJLMNSTWabcdeimnopqrtwx"
	srunValuedLong  = "account acctg-freq bb bbf begin c-constraint chdir cluster-constraint clusters comment " +
		"constraint container container-id core-spec cores-per-socket cpu-bind cpu-freq cpus-per-gpu " +
		"cpus-per-task deadline delay-boot dependency distribution epilog error exclude export extra " +
		"extra-node-info gid gpu-bind gpu-freq gpus gpus-per-node gpus-per-socket gpus-per-task gres " +
		"gres-flags het-group hint input jobid job-name licenses mail-type mail-user mcs-label mem mem-bind " +
		"mem-per-cpu mem-per-gpu mincpus mpi network nodefile nodelist nodes ntasks ntasks-per-core " +
		"ntasks-per-gpu ntasks-per-node ntasks-per-socket open-mode output partition power prefer profile " +
		"prolog qos relative reservation segment signal slurmd-debug sockets-per-node switches " +
		"task-epilog task-prolog thread-spec threads-per-core time time-min tmp tres-bind tres-per-task " +
		"uid wait wckey"
)

var srunTemplate = `#!/bin/sh
# srun for a job on a Gigafactory local site, written by the local driver:
# it runs CMD once per task on this one node, as srun would in the job's
# allocation. The job asked for this many tasks (empty: it named none):
job_tasks='@TASKS@'
n= label=
valued() { # does srun option $1 (without dashes) take a value?
	case " ` + srunValuedLong + ` " in *" $1 "*) return 0 ;; esac
	case "$1" in [` + srunValuedShort + `]) return 0 ;; esac
	return 1
}
while [ $# -gt 0 ]; do
	opt=$1 val= has=
	case $opt in
	--) shift; break ;;
	--*=*) val=${opt#*=}; opt=${opt%%=*}; has=1 ;;
	--*) ;;
	-?) ;;
	-*) val=${opt#-?}; opt=${opt%"$val"}; has=1 ;;
	*) break ;;
	esac
	name=${opt#-}; name=${name#-}
	shift
	if [ -z "$has" ] && valued "$name"; then
		if [ $# -eq 0 ]; then
			echo "srun: option $opt needs a value" >&2
			exit 2
		fi
		val=$1 has=1
		shift
	fi
	case $name in
	n|ntasks) n=$val ;;
	c|cpus-per-task) SLURM_CPUS_PER_TASK=$val; export SLURM_CPUS_PER_TASK ;;
	l|label) label=1 ;;
	esac
done
if [ $# -eq 0 ]; then
	echo "srun: no command to run" >&2
	exit 2
fi
if [ -z "$n" ]; then
	if [ -n "$job_tasks" ]; then
		n=${SLURM_NTASKS:-$job_tasks}
	else
		echo "srun: warning: the job named no --ntasks, so $1 runs once" >&2
		n=1
	fi
fi
case $n in
'' | *[!0-9]* | 0) echo "srun: --ntasks=$n is not a number of tasks" >&2; exit 2 ;;
esac
SLURM_NODEID=0 SLURM_STEP_NUM_TASKS=$n SLURM_STEP_NUM_NODES=1
export SLURM_NODEID SLURM_STEP_NUM_TASKS SLURM_STEP_NUM_NODES
status=
if [ -n "$label" ]; then
	status=$(mktemp -d) || exit 1
fi
pids= i=0
while [ "$i" -lt "$n" ]; do
	if [ -n "$label" ]; then
		{ (SLURM_PROCID=$i SLURM_LOCALID=$i; export SLURM_PROCID SLURM_LOCALID; exec "$@") 2>&1
		  echo $? >"$status/$i"; } | sed "s/^/$i: /" &
	else
		(SLURM_PROCID=$i SLURM_LOCALID=$i; export SLURM_PROCID SLURM_LOCALID; exec "$@") &
	fi
	pids="$pids $!"
	i=$((i + 1))
done
rc=0
for p in $pids; do
	wait "$p"
	s=$?
	[ "$s" -gt "$rc" ] && rc=$s
done
if [ -n "$label" ]; then
	for f in "$status"/*; do
		s=$(cat "$f")
		[ "$s" -gt "$rc" ] && rc=$s
	done
	rm -rf "$status"
fi
exit "$rc"
`
