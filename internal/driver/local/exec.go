package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsyscall "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// The exec stage is the last step before the job's program: the supervisor
// starts it (again /proc/self/exe, argv[0] = execArg0) as the leader of the
// job's process group, and it turns itself into the job:
//
//	read launch.json (the supervisor's state directory)
//	open the job directory and the allowed roots (O_PATH)     as root, or the server's user
//	bind the job's tmp/ over /tmp (root: own mount namespace)
//	Landlock: read+exec system dirs, read-write job dir and roots
//	drop to the job's account (groups, gid, uid)              root only
//	resolve the workdir, open output and error confined       as the job's user
//	fchdir, dup2 onto 0 1 2, syscall.Exec the command
//
// It runs as the job's account from the drop on, so every path the job
// names is checked by the kernel with the job's own rights, not the
// server's. Anything that fails before the exec goes back to the supervisor
// as one JSON line on fd 3 (a report with the errno), which the supervisor
// passes on to Start: the job then never started, and the error says why.
// fd 3 is close-on-exec, so a successful exec is seen as end of file.
const execArg0 = "gf-local-exec"

// launchFile holds a job attempt's launch, in its state directory.
const launchFile = "launch.json"

// launch is everything the exec stage needs, written by Start.
type launch struct {
	Attempt    int      `json:"attempt"`
	JobDir     string   `json:"job_dir"`
	Roots      []string `json:"roots,omitempty"`
	WorkDir    string   `json:"workdir,omitempty"`
	Stdout     string   `json:"stdout,omitempty"` // expanded; empty: JobDir/stdout
	Stderr     string   `json:"stderr,omitempty"`
	Argv       []string `json:"argv"`             // for a script: the interpreter, if any
	Script     bool     `json:"script,omitempty"` // append the script, as /dev/fd/N
	Env        []string `json:"env"`
	Account    *ids     `json:"account,omitempty"` // nil: stay who we are
	Landlock   string   `json:"landlock"`
	PrivateTmp bool     `json:"private_tmp,omitempty"`
	// Tasks is the number of tasks the job asked for (0: none named), what
	// the srun shim runs a command that many times for.
	Tasks int `json:"tasks,omitempty"`
	// Signal is --signal, which the supervisor sends before the walltime;
	// SignalShell says the job is a batch script, whose shell a signal
	// without B: spares, as Slurm spares it.
	Signal      *core.JobSignal `json:"signal,omitempty"`
	SignalShell bool            `json:"signal_shell,omitempty"`
}

// ids is a Unix identity to drop to.
type ids struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups,omitempty"`
}

// systemDirs are readable and executable by every job, where they exist.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt", "/proc", "/sys", "/run"}

// execJob is the exec stage; it returns only on failure.
func execJob(args []string) int {
	rep := os.NewFile(3, "report")
	syscall.CloseOnExec(3)
	fail := func(err error) int {
		r := report{Error: err.Error()}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Errno = int(errno)
		}
		json.NewEncoder(rep).Encode(r)
		return 127
	}
	if len(args) != 1 {
		return fail(fmt.Errorf("usage: %s STATEDIR", execArg0))
	}
	var l launch
	if err := readJSON(filepath.Join(args[0], launchFile), &l); err != nil {
		return fail(err)
	}
	return fail(becomeJob(l))
}

// becomeJob does the steps above; it returns only on failure.
func becomeJob(l launch) error {
	dirs, err := jobpath.OpenDirs(l.JobDir, l.Roots)
	if err != nil {
		return err
	}
	tmpdir := filepath.Join(l.JobDir, "tmp")
	if l.PrivateTmp {
		if err := privateTmp(dirs.Job); err != nil {
			return fmt.Errorf("private /tmp: %w", err)
		}
		tmpdir = "/tmp"
	}
	script := -1
	if l.Script {
		if script, err = jobpath.OpenBeneath(dirs.Job, "script", unix.O_RDONLY, 0); err != nil {
			return fmt.Errorf("script: %w", err)
		}
	}
	if err := restrict(l, dirs); err != nil {
		return err
	}
	if a := l.Account; a != nil {
		if err := syscall.Setgroups(a.Groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(a.GID); err != nil {
			return fmt.Errorf("setgid %d: %w", a.GID, err)
		}
		if err := syscall.Setuid(a.UID); err != nil {
			return fmt.Errorf("setuid %d: %w", a.UID, err)
		}
	}
	wd, err := dirs.WorkDir(l.WorkDir)
	if err != nil {
		return err
	}
	bin, err := writeSrun(dirs.Job, l.Tasks)
	if err != nil {
		return fmt.Errorf("srun for the job: %w", err)
	}
	stdout, stderr, err := openOutputs(dirs, l, wd)
	if err != nil {
		return err
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("/dev/null: %w", err)
	}
	for i, fd := range []int{null, stdout, stderr} {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup to fd %d: %w", i, err)
		}
	}
	if err := unix.Fchdir(wd); err != nil {
		return fmt.Errorf("workdir %s: %w", l.WorkDir, err)
	}
	argv := l.Argv
	if script >= 0 {
		if _, err := unix.FcntlInt(uintptr(script), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("script: %w", err)
		}
		argv = append(argv, fmt.Sprintf("/dev/fd/%d", script))
	}
	if len(argv) == 0 {
		return errors.New("job has neither a command nor a script")
	}
	pwd := l.JobDir
	if l.WorkDir != "" {
		pwd = l.WorkDir
		if !filepath.IsAbs(pwd) {
			pwd = filepath.Join(l.JobDir, pwd)
		}
	}
	// The srun shim comes first on PATH, so a script's srun runs its tasks
	// here rather than reach for a Slurm the job is not part of.
	path := filepath.Join(tmpdir, bin) + ":" + lookup(l.Env, "PATH")
	env := append(slices.DeleteFunc(l.Env, func(kv string) bool {
		return strings.HasPrefix(kv, "PWD=") || strings.HasPrefix(kv, "TMPDIR=") || strings.HasPrefix(kv, "PATH=")
	}), "PWD="+pwd, "TMPDIR="+tmpdir, "PATH="+path,
		// A script that starts `#!/bin/bash -l` (as LUMI's and others'
		// do) has its PATH reset by /etc/profile; an exported function
		// still finds the shim, as srun is found on a real site.
		"BASH_FUNC_srun%%=() {  "+shellQuote(filepath.Join(tmpdir, bin, "srun"))+` "$@"
}`)
	prog := argv[0]
	if !strings.Contains(prog, "/") {
		os.Setenv("PATH", lookup(env, "PATH"))
		if prog, err = exec.LookPath(prog); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				return fmt.Errorf("%w (%w)", err, syscall.ENOENT)
			}
			return err
		}
	}
	err = syscall.Exec(prog, argv, env)
	return fmt.Errorf("exec %s: %w", argv[0], err)
}

// lookup returns the value of key in env, the last one winning.
func lookup(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// openOutputs opens the job's stdout and stderr files as the job's user;
// one file when both streams name it, so they interleave.
func openOutputs(dirs *jobpath.Dirs, l launch, wd int) (stdout, stderr int, err error) {
	open := func(field, p, def string) (int, error) {
		dirfd, rel := dirs.Job, def
		if p != "" {
			if dirfd, rel, err = dirs.File(field, p, wd); err != nil {
				return -1, err
			}
		} else {
			p = filepath.Join(l.JobDir, def)
		}
		f, err := jobpath.OpenOutput(dirfd, rel, os.Geteuid())
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return -1, fmt.Errorf("%s %s: %w", field, p, err)
		}
		// The descriptor must outlive the *os.File and its finalizer.
		defer f.Close()
		return unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	}
	if stdout, err = open(jobpath.FieldOutput, l.Stdout, "stdout"); err != nil {
		return -1, -1, err
	}
	if l.Stderr == l.Stdout && l.Stdout != "" {
		return stdout, stdout, nil
	}
	if stderr, err = open(jobpath.FieldError, l.Stderr, "stderr"); err != nil {
		return -1, -1, err
	}
	return stdout, stderr, nil
}

// privateTmp binds the job's tmp directory over /tmp. The supervisor
// started this process in a mount namespace of its own, with propagation
// private, so the mount is the job's alone and goes when the job does.
func privateTmp(jobfd int) error {
	fd, err := jobpath.OpenBeneath(jobfd, "tmp", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Mount(fdPath(fd), "/tmp", "", unix.MS_BIND, ""); err != nil {
		return err
	}
	// Best effort: a setuid program or device node in /tmp serves no job.
	unix.Mount("", "/tmp", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, "")
	return nil
}

// fdPath names an open file by its descriptor.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// landlockABIVersion is the kernel's Landlock ABI, 0 without Landlock.
func landlockABIVersion() int {
	v, err := llsyscall.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

// restrict applies the job's Landlock domain to this process and whatever
// it executes: read and execute on the system directories, read-write on
// /dev (with device ioctls, for accelerators), the job's directory, the
// allowed roots and the private /tmp; nothing else, so not the server's
// data directory, other jobs' directories, nor the host's /tmp. Signals and
// abstract Unix sockets are scoped to the job's own domain. Must run before
// the privilege drop: the job directory is reachable by path only as the
// server's user. The job directory and roots are named by their open
// descriptors (/proc/self/fd/N), as the private /tmp may hide their paths.
func restrict(l launch, dirs *jobpath.Dirs) error {
	if l.Landlock == LandlockOff {
		return nil
	}
	abi := landlockABIVersion()
	if l.Landlock == LandlockRequired && abi < landlockABI {
		return fmt.Errorf("landlock is required, and this kernel has ABI %d, below %d", abi, landlockABI)
	}
	if abi == 0 {
		return nil
	}
	cfg := landlock.Config{HandledAccessFS: landlock.V6.HandledAccessFS, Scoped: landlock.V6.Scoped}
	if l.Landlock != LandlockRequired {
		cfg = cfg.BestEffort()
	}
	rw := []string{fdPath(dirs.Job)}
	for _, fd := range dirs.RootFDs() {
		if fd >= 0 {
			rw = append(rw, fdPath(fd))
		}
	}
	if l.PrivateTmp {
		rw = append(rw, "/tmp")
	}
	err := cfg.Restrict(
		landlock.RODirs(systemDirs...).IgnoreIfMissing(),
		landlock.RWDirs("/dev").WithIoctlDev().IgnoreIfMissing(),
		landlock.RWDirs(rw...).WithRefer().IgnoreIfMissing(),
	)
	if err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
