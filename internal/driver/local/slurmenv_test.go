package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// scriptJob is a job whose batch script is script, as `gf submit job.sh`
// sends it.
func scriptJob(id core.JobID, script string) core.Job {
	return core.Job{ID: id, Name: "t", Project: "p", User: "alice", Spec: core.JobSpec{Script: "#!/bin/sh\n" + script}}
}

// lines returns the lines of s, sorted.
func lines(s string) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(l)
	return l
}

// TestSrunRunsTasks: a real script calls srun the ways Slurm users do; each
// command runs once per task with its own SLURM_PROCID.
func TestSrunRunsTasks(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	job := scriptJob(3, `srun bash -c 'echo $SLURM_PROCID'`)
	job.Spec.Tasks = 4
	job.Spec.Error = "err"
	start(t, d, job)
	if u := waitEnd(t, d, 3, 10*time.Second); u.State != core.StateCompleted {
		t.Fatalf("ended %s: %s", u.State, u.Reason)
	}
	if got, want := lines(readLog(t, d, job, "stdout")), []string{"0", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("srun printed %q, want the task ids %q", got, want)
	}
	if e := readLog(t, d, job, "stderr"); e != "" {
		t.Errorf("stderr %q, want none (ntasks is known)", e)
	}
}

// TestSrunShim runs the shim itself on tables of srun command lines: its
// options are skipped (with their values where they take one), the count
// comes from -n, the job or nowhere, and a failing copy fails srun.
func TestSrunShim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, tasks int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(srunScript(tasks)), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	known, unknown := write("srun4", 4), write("srun0", 0)
	echo := []string{"sh", "-c", `echo $SLURM_PROCID.$SLURM_LOCALID.$SLURM_NODEID`}
	tests := map[string]struct {
		shim   string
		args   []string
		env    []string
		out    []string
		rc     int
		stderr string
	}{
		"job's tasks":      {known, echo, nil, []string{"0.0.0", "1.1.0", "2.2.0", "3.3.0"}, 0, ""},
		"SLURM_NTASKS":     {known, echo, []string{"SLURM_NTASKS=2"}, []string{"0.0.0", "1.1.0"}, 0, ""},
		"-n 2":             {known, append([]string{"-n", "2"}, echo...), nil, []string{"0.0.0", "1.1.0"}, 0, ""},
		"-n2":              {known, append([]string{"-n2"}, echo...), nil, []string{"0.0.0", "1.1.0"}, 0, ""},
		"--ntasks=3":       {unknown, append([]string{"--ntasks=3"}, echo...), nil, []string{"0.0.0", "1.1.0", "2.2.0"}, 0, ""},
		"--ntasks 1":       {known, append([]string{"--ntasks", "1"}, echo...), nil, []string{"0.0.0"}, 0, ""},
		"unknown: once":    {unknown, echo, nil, []string{"0.0.0"}, 0, "runs once"},
		"valued options":   {known, append([]string{"-N", "1", "--mpi", "pmix", "--cpu-bind=cores", "--gpus-per-task", "1", "-c", "8", "--export", "ALL", "-n", "2"}, echo...), nil, []string{"0.0.0", "1.1.0"}, 0, ""},
		"flags":            {known, append([]string{"--kill-on-bad-exit", "-K", "--exclusive", "-u", "--overlap", "-n", "1", "--"}, echo...), nil, []string{"0.0.0"}, 0, ""},
		"-c sets cpus":     {known, []string{"-n", "1", "-c", "8", "sh", "-c", "echo $SLURM_CPUS_PER_TASK"}, nil, []string{"8"}, 0, ""},
		"label":            {known, []string{"-l", "-n", "2", "sh", "-c", "echo hi"}, nil, []string{"0: hi", "1: hi"}, 0, ""},
		"one copy fails":   {known, []string{"sh", "-c", "exit $SLURM_PROCID"}, nil, nil, 3, ""},
		"labelled failure": {known, []string{"--label", "sh", "-c", "exit $((SLURM_PROCID+4))"}, nil, nil, 7, ""},
		"value missing":    {known, []string{"-n"}, nil, nil, 2, "needs a value"},
		"no command":       {known, []string{"-n", "2"}, nil, nil, 2, "no command"},
		"bad count":        {known, append([]string{"-n", "x"}, echo...), nil, nil, 2, "not a number"},
	}
	for name, tc := range tests {
		cmd := exec.Command(tc.shim, tc.args...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tc.env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		rc := 0
		if ee, ok := err.(*exec.ExitError); ok {
			rc = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rc != tc.rc {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, rc, tc.rc, stderr.String())
		}
		if tc.out != nil {
			if got := lines(string(out)); !slices.Equal(got, tc.out) {
				t.Errorf("%s: printed %q, want %q", name, got, tc.out)
			}
		}
		if !strings.Contains(stderr.String(), tc.stderr) || tc.stderr == "" && stderr.Len() > 0 {
			t.Errorf("%s: stderr %q, want %q", name, stderr.String(), tc.stderr)
		}
	}
}

// TestSubmitDirAndArrayEnv: an array task submitted from a directory the
// roots allow runs there, writes slurm-%A_%a.out there, and sees the
// SLURM_* variables of its array.
func TestSubmitDirAndArrayEnv(t *testing.T) {
	t.Parallel()
	root := jobRoot(t)
	d := newDriver(t, t.TempDir(), root)
	task := 5
	job := scriptJob(12, `pwd; touch made-here; env | grep '^SLURM_' | sort`)
	job.ArrayJobID, job.ArrayTaskID = 10, &task
	job.Spec.SubmitDir = root
	job.Spec.Array = &core.JobArray{Ranges: []core.ArrayRange{{First: 1, Last: 9, Step: 2}}}
	job.Spec.Tasks, job.Spec.CPUsPerTask, job.Spec.MemMiBPerCPU, job.Spec.Partition = 2, 4, 1000, "cpu"
	start(t, d, job)
	if u := waitEnd(t, d, 12, 10*time.Second); u.State != core.StateCompleted {
		t.Fatalf("ended %s: %s", u.State, u.Reason)
	}
	b, err := os.ReadFile(filepath.Join(root, "slurm-10_5.out"))
	if err != nil {
		t.Fatalf("the output file is not where sbatch puts it: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "made-here")); err != nil {
		t.Errorf("the job did not run in its submit directory: %v", err)
	}
	out := string(b)
	if got := readLog(t, d, job, "stdout"); got != out {
		t.Errorf("Logs(stdout) = %q, want the file's %q", got, out)
	}
	for _, want := range []string{root, "SLURM_JOB_ID=12", "SLURM_ARRAY_JOB_ID=10", "SLURM_ARRAY_TASK_ID=5",
		"SLURM_ARRAY_TASK_COUNT=5", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_MAX=9", "SLURM_ARRAY_TASK_STEP=2",
		"SLURM_NTASKS=2", "SLURM_NTASKS_PER_NODE=2", "SLURM_CPUS_PER_TASK=4", "SLURM_MEM_PER_CPU=1000",
		"SLURM_JOB_PARTITION=cpu", "SLURM_SUBMIT_DIR=" + root, "SLURM_JOB_ACCOUNT=p", "SLURM_JOB_NAME=t"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks the line %s:\n%s", want, out)
		}
	}
}

// TestRunDirFallback: a submit directory the roots do not hold is not
// used; the job runs in its own directory, and SLURM_SUBMIT_DIR still says
// where it was submitted from.
func TestRunDirFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	job := shJob(4, `echo $SLURM_SUBMIT_DIR; echo oops >&2`)
	job.Spec.SubmitDir = "/etc"
	start(t, d, job)
	waitEnd(t, d, 4, 5*time.Second)
	b, err := os.ReadFile(filepath.Join(dir, "jobs/4/slurm-4.out"))
	if err != nil || string(b) != "/etc\noops\n" {
		t.Errorf("jobs/4/slurm-4.out: %q, %v; want stdout and stderr together", b, err)
	}
	if got := readLog(t, d, job, "stderr"); got != "/etc\noops\n" {
		t.Errorf("Logs(stderr) = %q, want the output file, which holds stderr", got)
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	tests := map[string]struct {
		export     string
		has, lacks []string
	}{
		"default":    {"", []string{"B=2", "C=3", "SLURM_EXPORT_ENV=ALL"}, []string{"A="}},
		"ALL,X":      {"ALL,A=1", []string{"A=1", "B=2", "C=3"}, nil},
		"NONE":       {"NONE", []string{"SLURM_JOB_ID=", "GF_JOB_ID=", "PATH=", "SLURM_EXPORT_ENV=NONE"}, []string{"B=", "C=", "LANG="}},
		"NONE,A=1,B": {"NONE,A=1,B", []string{"A=1", "B=2", "PATH="}, []string{"C="}},
		"list":       {"B", []string{"B=2"}, []string{"C="}},
	}
	id := core.JobID(20)
	for name, tc := range tests {
		id++
		job := shJob(id, "env")
		job.Spec.Env = map[string]string{"B": "2", "C": "3"}
		job.Spec.Export = tc.export
		start(t, d, job)
		waitEnd(t, d, id, 5*time.Second)
		env := "\n" + readLog(t, d, job, "stdout")
		for _, v := range tc.has {
			if !strings.Contains(env, "\n"+v) {
				t.Errorf("%s: no %s in\n%s", name, v, env)
			}
		}
		for _, v := range tc.lacks {
			if strings.Contains(env, "\n"+v) {
				t.Errorf("%s: %s passed in\n%s", name, v, env)
			}
		}
	}
}

// TestSignalBeforeWalltime: --signal reaches the job ahead of its
// walltime: with B: the batch shell, which traps it and ends in time;
// without, the job's other processes but not the shell.
func TestSignalBeforeWalltime(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	shell := scriptJob(30, `trap 'echo shell got USR1; exit 0' USR1; while :; do sleep 0.05; done`)
	// The signal comes 5 s after the start: long enough for the traps and
	// the step to be in place on a loaded machine (1 s was not, once).
	shell.Spec.Walltime = core.Duration(40 * time.Second)
	shell.Spec.Signal = &core.JobSignal{Name: "USR1", Seconds: 35, BatchOnly: true}
	shell.Spec.Error = "err"
	steps := scriptJob(31, `trap 'echo shell got USR2' USR2
sh -c 'trap "echo step got USR2; exit 0" USR2; while :; do sleep 0.05; done'
echo step ended`)
	steps.Spec.Walltime = core.Duration(40 * time.Second)
	steps.Spec.Signal = &core.JobSignal{Name: "USR2", Seconds: 35}
	steps.Spec.Error = "err"
	start(t, d, shell)
	start(t, d, steps)
	// Both end at about the same time, and Poll reports an end once:
	// wait for the two together, or one's end is taken while waiting for
	// the other's (the cause of this test's rare failures).
	ends := waitEnds(t, d, []core.JobID{shell.ID, steps.ID}, 30*time.Second)
	for _, tc := range []struct {
		job  core.Job
		want string
	}{{shell, "shell got USR1\n"}, {steps, "step got USR2\nstep ended\n"}} {
		if u := ends[tc.job.ID]; u.State != core.StateCompleted {
			t.Errorf("job %d ended %s (%s), want completed by its trap; stdout %q, stderr %q", tc.job.ID, u.State, u.Reason,
				readLog(t, d, tc.job, "stdout"), readLog(t, d, tc.job, "stderr"))
		}
		if got := readLog(t, d, tc.job, "stdout"); got != tc.want {
			t.Errorf("job %d printed %q, want %q", tc.job.ID, got, tc.want)
		}
	}
}

// TestSrunInLoginShell: a `#!/bin/bash -l` script, whose /etc/profile
// resets PATH, still finds srun, as on a site where srun is installed.
func TestSrunInLoginShell(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	job := scriptJob(4, "")
	job.Spec.Script = "#!/bin/bash -l\nsrun bash -c 'echo $SLURM_PROCID'\n"
	job.Spec.Tasks = 2
	job.Spec.Error = "err"
	start(t, d, job)
	if u := waitEnd(t, d, 4, 10*time.Second); u.State != core.StateCompleted {
		t.Fatalf("ended %s: %s (stderr %q)", u.State, u.Reason, readLog(t, d, job, "stderr"))
	}
	if got, want := lines(readLog(t, d, job, "stdout")), []string{"0", "1"}; !slices.Equal(got, want) {
		t.Errorf("srun in a login shell printed %q, want %q (stderr %q)", got, want, readLog(t, d, job, "stderr"))
	}
}
