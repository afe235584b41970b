// Package local runs jobs as processes on the controller's own machine: the
// driver behind `gf serve` on a workstation or a single GPU server, and a
// tenant boundary (README.md says exactly which).
//
// Each job runs under a small supervisor process (see supervisor.go) that
// the driver starts by re-executing its own binary. The supervisor holds
// the job in a process group of its own, enforces the walltime, and records
// the exit status in Dir/state/ID/exit.json, so that a new Driver on the
// same Dir can re-adopt running jobs after a controller restart and still
// learn how they ended. The job itself is entered through an exec stage
// (see exec.go) that confines it: its own Unix account when gf runs as
// root, Landlock where the kernel has it, and outputs opened without
// following symlinks. Linux only: it relies on /proc and process sessions.
//
// Files under Options.Dir (directories 0700, files 0600):
//
//	jobs/ID/                 the job's own directory, owned by its account: its cwd by default
//	jobs/ID/stdout, stderr   output, unless the spec names other files
//	jobs/ID/script           the job's script, when it has one
//	jobs/ID/tmp/             its TMPDIR (bound over /tmp when gf runs as root)
//	state/ID/launch.json     what the exec stage runs; the server's only
//	state/ID/supervisor.json supervisor pid, start time and the job's process group
//	state/ID/exit.json       how the last attempt ended
//	state/ID/supervisor.log  the supervisor's own complaints
package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// Compile-time checks of the capabilities the local driver offers.
var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.Adopter   = (*Driver)(nil)
	_ driver.Signaler  = (*Driver)(nil)
	_ driver.LogReader = (*Driver)(nil)
	_ driver.Closer    = (*Driver)(nil)
)

// Options configures a local driver.
type Options struct {
	// Dir holds the jobs' files, under Dir/jobs/ID/. Required.
	Dir string
	// Clock stamps updates. Default time.Now.
	Clock func() time.Time
	// KillGrace is how long a job has between SIGTERM and SIGKILL on cancel
	// or at its walltime. Default 10s.
	KillGrace time.Duration
	// Shell runs scripts that do not start with a #! line. Default bash,
	// or /bin/sh where bash is not installed.
	Shell string
	// PollInterval is how often the driver checks on re-adopted jobs, which
	// are not its children and so cannot be waited for. Default 1s.
	PollInterval time.Duration
	// AllowedRoots are the directories, besides its own job directory,
	// where a job's workdir, output and error may lie (absolute). None may
	// contain Dir or the server's data directory.
	AllowedRoots []string
	// RunAs is the Unix account jobs run as when gf runs as root and
	// UserMap does not map the job's user. Default DefaultRunAs (nobody).
	// An error when gf does not run as root.
	RunAs string
	// UserMap maps gf users to Unix accounts, as Slurm sites do; the value
	// "same" is the account of the user's own name, and the key "*"
	// applies to users not listed. Only when gf runs as root.
	UserMap map[string]string
	// Landlock is LandlockAuto (default), LandlockRequired or LandlockOff.
	Landlock string
}

// Driver runs jobs as local processes. It is safe for concurrent use.
type Driver struct {
	opts Options
	root bool // jobs switch to their own account

	mu      sync.Mutex
	procs   map[key]*proc
	updates []driver.Update
	closed  bool

	stop chan struct{}  // closed by Close
	wg   sync.WaitGroup // the adopted-jobs watcher
}

// key names one attempt of a job.
type key struct {
	id      core.JobID
	attempt int
}

// proc is one job attempt the driver watches.
type proc struct {
	job      core.Job
	dir      string
	handle   string
	pid      int    // the supervisor's
	start    uint64 // the supervisor's start time, in clock ticks
	pgid     int    // the job's process group
	own      bool   // our child: a goroutine waits for it
	done     bool
	terminal driver.Update // when done
}

// New returns a driver keeping its files under opts.Dir.
func New(opts Options) (*Driver, error) {
	if opts.Dir == "" {
		return nil, errors.New("local driver: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("local driver: %w", err)
	}
	opts.Dir = dir
	root := isRoot()
	if err := checkIdentity(opts, root); err != nil {
		return nil, fmt.Errorf("local driver: %w", err)
	}
	if root && opts.RunAs == "" {
		opts.RunAs = DefaultRunAs
	}
	if err := checkLandlockMode(opts.Landlock); err != nil {
		return nil, fmt.Errorf("local driver: landlock %w", err)
	}
	if opts.Landlock == "" {
		opts.Landlock = LandlockAuto
	}
	if opts.Landlock == LandlockRequired && landlockABIVersion() < landlockABI {
		return nil, fmt.Errorf("local driver: landlock is required, and this kernel has ABI %d, below %d", landlockABIVersion(), landlockABI)
	}
	for i, r := range opts.AllowedRoots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("local driver: allowed root %q is not absolute", r)
		}
		opts.AllowedRoots[i] = filepath.Clean(r)
	}
	if err := checkRoots(opts.AllowedRoots, dir); err != nil {
		return nil, fmt.Errorf("local driver: allowed roots: %w", err)
	}
	for _, r := range opts.AllowedRoots {
		if _, _, under := jobpath.Within(resolved(r), []string{"/tmp"}); root && under {
			return nil, fmt.Errorf("local driver: allowed root %s is under /tmp, which jobs see as their own private /tmp", r)
		}
	}
	// Made private, and tightened if they were not: jobs never reach them
	// by path.
	for _, sub := range []string{"", "jobs", "state"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	if opts.Shell == "" {
		opts.Shell = "/bin/sh"
		if p, err := exec.LookPath("bash"); err == nil {
			opts.Shell = p
		}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	d := &Driver{opts: opts, root: root, procs: make(map[key]*proc), stop: make(chan struct{})}
	d.wg.Add(1)
	go d.watch()
	return d, nil
}

// jobDir is where a job's own files live.
func (d *Driver) jobDir(id core.JobID) string {
	return filepath.Join(d.opts.Dir, "jobs", id.String())
}

// stateDir is where the supervisor's records of a job live.
func (d *Driver) stateDir(id core.JobID) string {
	return filepath.Join(d.opts.Dir, "state", id.String())
}

// Start launches the job under a supervisor and returns once the job's
// process exists. A job that cannot be launched (no command, a missing
// workdir, a program not found) gives an error, and no update.
func (d *Driver) Start(ctx context.Context, job core.Job) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	}
	handle, err := d.start(job)
	if err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	}
	return handle, nil
}

func (d *Driver) start(job core.Job) (string, error) {
	k := key{job.ID, job.Attempt}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return "", errors.New("driver closed")
	}
	if p, ok := d.procs[k]; ok && !p.done {
		d.mu.Unlock()
		return "", fmt.Errorf("attempt %d already running as %s", job.Attempt, p.handle)
	}
	d.mu.Unlock()

	acct, err := d.account(job)
	if err != nil {
		return "", err
	}
	l, err := d.launch(job, acct)
	if err != nil {
		return "", err
	}
	state := d.stateDir(job.ID)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return "", err
	}
	// Files of a previous attempt must not be mistaken for this one's.
	for _, f := range []string{exitFile, supervisorFile, launchFile} {
		if err := os.Remove(filepath.Join(state, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	if err := prepareJobDir(l.JobDir, acct, job.Spec.Script); err != nil {
		return "", fmt.Errorf("job directory: %w", err)
	}
	if err := writeJSON(filepath.Join(state, launchFile), l); err != nil {
		return "", err
	}
	logf, err := os.OpenFile(filepath.Join(state, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()

	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	newns := "0"
	if l.PrivateTmp {
		newns = "1"
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{supervisorArg0, state, strconv.Itoa(job.Attempt),
			strconv.FormatInt(int64(job.Spec.Walltime), 10),
			strconv.FormatInt(int64(d.opts.KillGrace), 10), newns},
		Env:        []string{"PATH=/usr/bin:/bin"},
		Dir:        state,
		Stdout:     logf,
		Stderr:     logf,
		ExtraFiles: []*os.File{w},
		// A session of its own: a Ctrl-C to the controller's terminal, or
		// the controller's death, does not reach the job.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		// Not the job's doing: the machine could not fork (EAGAIN, ENOMEM).
		return "", fmt.Errorf("launch supervisor: %v: %w", err, driver.ErrUnavailable)
	}
	var rep report
	line, rerr := bufio.NewReader(r).ReadBytes('\n')
	if rerr == nil {
		rerr = json.Unmarshal(line, &rep)
	}
	if rerr != nil || rep.Error != "" {
		cmd.Wait()
		if rep.Error != "" {
			return "", &startError{msg: rep.Error, errno: syscall.Errno(rep.Errno)}
		}
		return "", fmt.Errorf("supervisor gave no report: %v (%s)", rerr, cmd.ProcessState)
	}
	p := &proc{
		job:    job,
		dir:    state,
		handle: formatHandle(cmd.Process.Pid, rep.StartTime),
		pid:    cmd.Process.Pid,
		start:  rep.StartTime,
		pgid:   rep.PGID,
		own:    true,
	}
	d.mu.Lock()
	d.procs[k] = p
	d.updates = append(d.updates, p.update(core.StateRunning, d.opts.Clock()))
	d.mu.Unlock()
	go func() {
		// Reap the supervisor even after Close, so no zombie stays behind;
		// finish ignores it then.
		cmd.Wait()
		d.finish(p, cmd.ProcessState)
	}()
	return p.handle, nil
}

// startError is the job's own reason for not starting (its program is not
// there, its output directory is missing, its arguments are too long). It
// wraps the errno, when a system call gave one, and nothing else: it does
// not mean the site is unavailable.
type startError struct {
	msg   string
	errno syscall.Errno
}

func (e *startError) Error() string { return e.msg }

func (e *startError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// maxArgLen is the kernel's MAX_ARG_STRLEN: the longest single argument or
// environment string execve takes.
const maxArgLen = 32 * 4096

// launch works out what the exec stage is to do for job. Like sbatch, it
// runs the job in its workdir, else in the directory it was submitted from
// when the allowed roots hold it (jobpath.RunDir), else in its own
// directory; and it writes stdout, with stderr unless the spec names an
// error file, to slurm-%j.out (slurm-%A_%a.out for an array task) there.
func (d *Driver) launch(job core.Job, acct *account) (launch, error) {
	jobDir := d.jobDir(job.ID)
	runDir, _ := jobpath.RunDir(job.Spec, d.opts.AllowedRoots)
	l := launch{
		Attempt:    job.Attempt,
		JobDir:     jobDir,
		Roots:      d.opts.AllowedRoots,
		WorkDir:    runDir,
		Env:        jobEnv(job, acct, absRunDir(jobDir, runDir)),
		Landlock:   d.opts.Landlock,
		PrivateTmp: d.root,
		Tasks:      knownTasks(job.Spec),
	}
	if sig := job.Spec.Signal; sig != nil {
		if _, err := parseSignal(sig.Name); err != nil {
			return launch{}, fmt.Errorf("signal: %w", err)
		}
		l.Signal = sig
		l.SignalShell = job.Spec.Script != ""
	}
	switch {
	case len(job.Spec.Command) > 0:
		l.Argv = job.Spec.Command
	case job.Spec.Script == "":
		return launch{}, errors.New("job has neither a command nor a script")
	case strings.HasPrefix(job.Spec.Script, "#!"):
		l.Script = true
	default:
		l.Script, l.Argv = true, []string{d.opts.Shell}
	}
	for i, a := range l.Argv {
		if len(a) >= maxArgLen {
			return launch{}, fmt.Errorf("command argument %d is %d bytes, and a program may be given at most %d in one: %w", i, len(a), maxArgLen-1, syscall.E2BIG)
		}
	}
	for _, e := range l.Env {
		if len(e) >= maxArgLen {
			k, _, _ := strings.Cut(e, "=")
			return launch{}, fmt.Errorf("environment variable %s is %d bytes, and a program may be given at most %d in one: %w", k, len(e), maxArgLen-1, syscall.E2BIG)
		}
	}
	if l.WorkDir != "" {
		if err := jobpath.Check(jobpath.FieldWorkDir, l.WorkDir, l.Roots, false); err != nil {
			return launch{}, err
		}
	}
	var err error
	vars := outputVars(job)
	if l.Stdout, err = expand(jobpath.FieldOutput, outputPattern(job), vars, l.Roots); err != nil {
		return launch{}, err
	}
	l.Stderr = l.Stdout
	if job.Spec.Error != "" {
		if l.Stderr, err = expand(jobpath.FieldError, job.Spec.Error, vars, l.Roots); err != nil {
			return launch{}, err
		}
	}
	if acct != nil {
		l.Account = &ids{UID: acct.uid, GID: acct.gid, Groups: acct.groups}
	}
	return l, nil
}

// absRunDir is the absolute path of the directory the job runs in.
func absRunDir(jobDir, runDir string) string {
	if runDir == "" {
		return jobDir
	}
	if !filepath.IsAbs(runDir) {
		return filepath.Join(jobDir, runDir)
	}
	return filepath.Clean(runDir)
}

// outputPattern is the job's output pattern: its spec's, else sbatch's
// default name.
func outputPattern(job core.Job) string {
	if job.Spec.Output != "" {
		return job.Spec.Output
	}
	return jobpath.DefaultOutputFor(job)
}

// knownTasks is the number of tasks the job asked for, 0 when it named
// none: --ntasks, else --ntasks-per-node times the nodes.
func knownTasks(s core.JobSpec) int {
	switch {
	case s.Tasks > 0:
		return s.Tasks
	case s.TasksPerNode > 0:
		return s.TasksPerNode * max(s.Nodes, 1)
	}
	return 0
}

// outputVars are what Slurm's patterns (%j %x %u %A %a %N) stand for in
// job's output paths: Gigafactory's ids, and the node the job runs on.
func outputVars(job core.Job) jobpath.Vars {
	return jobpath.JobVars(job, nodeName(job))
}

// nodeName is the job's first node: its allocation's, else this machine's.
func nodeName(job core.Job) string {
	if a := job.Alloc; a != nil {
		for _, n := range a.Nodes {
			if n.Node != "" {
				return n.Node
			}
		}
	}
	h, _ := os.Hostname()
	return h
}

// expand expands an output pattern and checks the path it gives.
func expand(field, pattern string, vars jobpath.Vars, roots []string) (string, error) {
	p, err := jobpath.Expand(pattern, vars)
	if err != nil {
		return "", &jobpath.Error{Field: field, Msg: err.Error()}
	}
	if err := jobpath.Check(field, p, roots, true); err != nil {
		return "", err
	}
	return p, nil
}

// prepareJobDir makes the job's directory (0700, the job account's) with
// its tmp/ and script. The directory may hold what an earlier attempt
// left, so nothing in it is followed: every step is relative to the
// directory's descriptor, without following symlinks, and the script is
// made afresh (O_EXCL) after removing whatever had its name.
func prepareJobDir(dir string, acct *account, script string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// jobs/ is the server's, so no job can have swapped dir for a link.
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	uid, gid := -1, -1
	if acct != nil {
		uid, gid = acct.uid, acct.gid
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, dir, 0o700, 0); err != nil {
		return err
	}
	if err := unix.Mkdirat(fd, "tmp", 0o700); errors.Is(err, unix.EEXIST) {
		// Keep a directory; anything else by that name goes.
		var st unix.Stat_t
		if unix.Fstatat(fd, "tmp", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Unlinkat(fd, "tmp", 0)
			err = unix.Mkdirat(fd, "tmp", 0o700)
		} else {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("tmp: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("tmp: %w", err)
	}
	if err := unix.Fchownat(fd, "tmp", uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("tmp: %w", err)
	}
	if script == "" {
		return nil
	}
	if err := unix.Unlinkat(fd, "script", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("script: %w", err)
	}
	sfd, err := jobpath.OpenBeneath(fd, "script", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o700)
	if err != nil {
		return fmt.Errorf("script: %w", err)
	}
	f := os.NewFile(uintptr(sfd), "script")
	defer f.Close()
	if _, err := f.WriteString(script); err != nil {
		return fmt.Errorf("script: %w", err)
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("script: %w", err)
	}
	return nil
}

// update makes an update for p.
func (p *proc) update(state core.State, now time.Time) driver.Update {
	return driver.Update{JobID: p.job.ID, Attempt: p.job.Attempt, Handle: p.handle, State: state, Time: now}
}

// finish records the end of p's supervisor: ps is its wait status when it
// was our child, nil when it was found gone in /proc.
func (d *Driver) finish(p *proc, ps *os.ProcessState) {
	u := d.outcome(p, ps)
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.done || d.closed {
		return
	}
	p.done, p.terminal = true, u
	d.updates = append(d.updates, u)
}

// outcome reads how p ended from its exit record; without one the
// supervisor itself was killed, and whatever is left of the job is ended.
func (d *Driver) outcome(p *proc, ps *os.ProcessState) driver.Update {
	now := d.opts.Clock()
	var rec exitRecord
	if err := readJSON(filepath.Join(p.dir, exitFile), &rec); err == nil && rec.Attempt == p.job.Attempt {
		return rec.update(p, now)
	}
	killOrphans(p.pid, p.pgid)
	u := p.update(core.StateFailed, now)
	u.Reason = "job supervisor vanished"
	if ps != nil {
		u.Reason = "job supervisor ended without a record: " + ps.String()
	}
	return u
}

// update turns an exit record into p's terminal update.
func (r exitRecord) update(p *proc, now time.Time) driver.Update {
	u := p.update(core.StateFailed, now)
	u.ExitCode, u.Signal = r.ExitCode, r.Signal
	switch {
	case r.Outcome == outcomeCancelled:
		u.State, u.Reason = core.StateCancelled, "cancelled"
	case r.Outcome == outcomeTimeout:
		u.State, u.Reason = core.StateTimeout, "walltime "+r.Walltime+" exceeded"
	case r.Signal != "":
		u.Reason = "killed by " + r.Signal
	case r.ExitCode != nil && *r.ExitCode == 0:
		u.State = core.StateCompleted
	case r.ExitCode != nil:
		u.Reason = fmt.Sprintf("exit code %d", *r.ExitCode)
	}
	return u
}

// killOrphans ends a job group whose supervisor is gone. The group is only
// killed if it still belongs to the supervisor's session, so a recycled
// process id is never hit.
func killOrphans(spid, pgid int) {
	if pgid <= 0 {
		return
	}
	if st, err := readStat(pgid); err == nil && st.session == spid && st.pgrp == pgid {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// watch polls /proc for re-adopted supervisors, which are not our children.
func (d *Driver) watch() {
	defer d.wg.Done()
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		var gone []*proc
		for _, p := range d.procs {
			if !p.own && !p.done && !alive(p.pid, p.start) {
				gone = append(gone, p)
			}
		}
		d.mu.Unlock()
		for _, p := range gone {
			d.finish(p, nil)
		}
	}
}

// Cancel asks the job's supervisor to end it: SIGTERM to the job's process
// group, SIGKILL after KillGrace. The cancelled state arrives through Poll.
// A job that already ended is left alone; one this driver neither started
// nor adopted gives an error wrapping driver.ErrUnknownJob.
func (d *Driver) Cancel(ctx context.Context, job core.Job) error {
	p, err := d.lookup(job)
	if err != nil {
		return fmt.Errorf("cancel job %d: %w", job.ID, err)
	}
	if p == nil || !alive(p.pid, p.start) {
		return nil
	}
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("cancel job %d: %w", job.ID, err)
	}
	return nil
}

// Signal sends sig ("SIGUSR1", "USR1" or a number) to the job's process
// group without ending the job's supervision.
func (d *Driver) Signal(ctx context.Context, job core.Job, sig string) error {
	s, err := parseSignal(sig)
	if err != nil {
		return fmt.Errorf("signal job %d: %w", job.ID, err)
	}
	p, err := d.lookup(job)
	if err != nil {
		return fmt.Errorf("signal job %d: %w", job.ID, err)
	}
	if p == nil || !alive(p.pid, p.start) {
		return fmt.Errorf("signal job %d: it has ended", job.ID)
	}
	if p.pgid <= 0 {
		return fmt.Errorf("signal job %d: its process group is unknown (%s lost)", job.ID, supervisorFile)
	}
	if err := syscall.Kill(-p.pgid, s); err != nil {
		return fmt.Errorf("signal job %d: %w", job.ID, err)
	}
	return nil
}

// lookup finds a watched job attempt; nil without error when it has ended.
func (d *Driver) lookup(job core.Job) (*proc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.procs[key{job.ID, job.Attempt}]
	switch {
	case !ok:
		return nil, driver.ErrUnknownJob
	case p.done:
		return nil, nil
	}
	return p, nil
}

// Poll returns the updates seen since the last call: running once a job
// started, then exactly one terminal update.
func (d *Driver) Poll(ctx context.Context) ([]driver.Update, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.updates
	d.updates = nil
	return u, nil
}

// Logs opens a job's stdout or stderr file. It works for ended jobs and
// across restarts, as long as the files exist. It serves only the job's own
// files: resolved the way the job's start resolved them (its directory, its
// workdir, the allowed roots), without following any symlink, and only a
// regular file with one link owned by the job's account.
func (d *Driver) Logs(ctx context.Context, job core.Job, stream string) (io.ReadCloser, error) {
	f, err := d.openLog(job, stream)
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, err)
	}
	return f, nil
}

func (d *Driver) openLog(job core.Job, stream string) (*os.File, error) {
	field, pattern := jobpath.FieldOutput, outputPattern(job)
	switch stream {
	case "stdout":
	case "stderr":
		// Without an error file, stderr went into the output file, as
		// with sbatch.
		if job.Spec.Error != "" {
			field, pattern = jobpath.FieldError, job.Spec.Error
		}
	default:
		return nil, fmt.Errorf("unknown stream %q, want stdout or stderr", stream)
	}
	uid := os.Geteuid()
	if d.root {
		acct, err := d.account(job)
		if err != nil {
			return nil, err
		}
		uid = acct.uid
	}
	dirs, err := jobpath.OpenDirs(d.jobDir(job.ID), d.opts.AllowedRoots)
	if err != nil {
		return nil, err
	}
	defer dirs.Close()
	p, err := expand(field, pattern, outputVars(job), d.opts.AllowedRoots)
	if err != nil {
		return nil, err
	}
	runDir, _ := jobpath.RunDir(job.Spec, d.opts.AllowedRoots)
	wd, err := dirs.WorkDir(runDir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(wd)
	dirfd, rel, err := dirs.File(field, p, wd)
	if err != nil {
		return nil, err
	}
	f, err := jobpath.OpenLog(dirfd, rel, uid)
	if errors.Is(err, fs.ErrNotExist) && runDir == "" && job.Spec.Output == "" && job.Spec.Error == "" {
		// A job run before outputs took sbatch's names has them as
		// stdout and stderr in its directory.
		if old, oerr := jobpath.OpenLog(dirs.Job, stream, uid); oerr == nil {
			return old, nil
		}
	}
	return f, err
}

// Adopt reattaches to jobs started before a controller restart, by a
// previous Driver on the same Dir. A job whose supervisor still runs is
// watched again (running); one that ended meanwhile gets its recorded
// terminal state; one that left no trace fails with "controller restarted".
func (d *Driver) Adopt(ctx context.Context, jobs []core.Job) ([]driver.Update, error) {
	out := make([]driver.Update, 0, len(jobs))
	for _, job := range jobs {
		out = append(out, d.adopt(job))
	}
	return out, nil
}

func (d *Driver) adopt(job core.Job) driver.Update {
	k := key{job.ID, job.Attempt}
	now := d.opts.Clock()
	d.mu.Lock()
	if p, ok := d.procs[k]; ok {
		defer d.mu.Unlock()
		if !p.done {
			return p.update(core.StateRunning, now)
		}
		// Adopt now answers for the end; Poll must not repeat it.
		d.updates = slices.DeleteFunc(d.updates, func(u driver.Update) bool {
			return u.JobID == job.ID && u.Attempt == job.Attempt && u.State.Terminal()
		})
		return p.terminal
	}
	d.mu.Unlock()

	p := &proc{job: job, dir: d.stateDir(job.ID), handle: job.Handle}
	var info supervisorInfo
	if err := readJSON(filepath.Join(p.dir, supervisorFile), &info); err == nil && info.Attempt == job.Attempt {
		if p.handle == "" { // the controller died inside Start
			p.handle = formatHandle(info.PID, info.StartTime)
		}
	} else {
		info = supervisorInfo{}
	}
	lost := p.update(core.StateFailed, now)
	lost.Reason = "controller restarted"
	var err error
	if p.pid, p.start, err = parseHandle(p.handle); err != nil {
		return lost
	}
	if info.PID == p.pid && info.StartTime == p.start {
		p.pgid = info.PGID
	}
	if alive(p.pid, p.start) {
		// Followed even if supervisor.json is lost (pgid 0): it can still
		// be cancelled through the supervisor, just not signalled.
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.closed {
			return lost
		}
		d.procs[k] = p
		return p.update(core.StateRunning, now)
	}
	var rec exitRecord
	if err := readJSON(filepath.Join(p.dir, exitFile), &rec); err == nil && rec.Attempt == job.Attempt {
		p.done, p.terminal = true, rec.update(p, now)
		d.mu.Lock()
		d.procs[k] = p
		d.mu.Unlock()
		return p.terminal
	}
	killOrphans(p.pid, p.pgid)
	return lost
}

// Close stops watching. It does not end any job: a new Driver on the same
// Dir can adopt them. Supervisors started by this driver are still reaped
// when they exit, but their ends are no longer reported.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	d.wg.Wait()
	return nil
}
