// Package local runs jobs as processes on the controller's own machine: the
// driver behind `gf serve` on a workstation or a single GPU server.
//
// Each job runs under a small supervisor process (see supervisor.go) that
// the driver starts by re-executing its own binary. The supervisor holds
// the job in a process group of its own, enforces the walltime, and records
// the exit status in Dir/jobs/ID/exit.json, so that a new Driver on the same
// Dir can re-adopt running jobs after a controller restart and still learn
// how they ended. Linux only: it relies on /proc and process sessions.
//
// Files per job, under Options.Dir:
//
//	jobs/ID/stdout, stderr   output, unless the spec names other files
//	jobs/ID/script           the job's script, when it has one
//	jobs/ID/supervisor.json  supervisor pid, start time and the job's process group
//	jobs/ID/exit.json        how the last attempt ended
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

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
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
}

// Driver runs jobs as local processes. It is safe for concurrent use.
type Driver struct {
	opts Options

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
	if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("local driver: %w", err)
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
	d := &Driver{opts: opts, procs: make(map[key]*proc), stop: make(chan struct{})}
	d.wg.Add(1)
	go d.watch()
	return d, nil
}

// jobDir is where a job's files live.
func (d *Driver) jobDir(id core.JobID) string {
	return filepath.Join(d.opts.Dir, "jobs", id.String())
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

	dir := d.jobDir(job.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Files of a previous attempt must not be mistaken for this one's.
	for _, f := range []string{exitFile, supervisorFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	workdir := dir
	if wd := job.Spec.WorkDir; wd != "" {
		fi, err := os.Stat(wd)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("workdir %s does not exist", wd)
		case err != nil:
			return "", fmt.Errorf("workdir: %w", err)
		case !fi.IsDir():
			return "", fmt.Errorf("workdir %s is not a directory", wd)
		}
		workdir = wd
	}
	argv, err := d.argv(job, dir)
	if err != nil {
		return "", err
	}
	stdout, stderr, err := openOutputs(job, dir, workdir)
	if err != nil {
		return "", err
	}
	defer stdout.Close()
	defer stderr.Close()

	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{supervisorArg0, dir, strconv.Itoa(job.Attempt),
			strconv.FormatInt(int64(job.Spec.Walltime), 10),
			strconv.FormatInt(int64(d.opts.KillGrace), 10), "--"}, argv...),
		Env:        jobEnv(job),
		Dir:        workdir,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{w},
		// A session of its own: a Ctrl-C to the controller's terminal, or
		// the controller's death, does not reach the job.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return "", fmt.Errorf("launch supervisor: %w", err)
	}
	var rep report
	line, rerr := bufio.NewReader(r).ReadBytes('\n')
	if rerr == nil {
		rerr = json.Unmarshal(line, &rep)
	}
	if rerr != nil || rep.Error != "" {
		cmd.Wait()
		if rep.Error != "" {
			return "", errors.New(rep.Error)
		}
		return "", fmt.Errorf("supervisor gave no report: %v (%s)", rerr, cmd.ProcessState)
	}
	p := &proc{
		job:    job,
		dir:    dir,
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

// argv is what the supervisor executes: the command, or the script written
// to the job directory.
func (d *Driver) argv(job core.Job, dir string) ([]string, error) {
	if len(job.Spec.Command) > 0 {
		return job.Spec.Command, nil
	}
	if job.Spec.Script == "" {
		return nil, errors.New("job has neither a command nor a script")
	}
	path := filepath.Join(dir, "script")
	if err := os.WriteFile(path, []byte(job.Spec.Script), 0o755); err != nil {
		return nil, err
	}
	if strings.HasPrefix(job.Spec.Script, "#!") {
		return []string{path}, nil
	}
	return []string{d.opts.Shell, path}, nil
}

// OutputPath is where a job's stream ("stdout" or "stderr") goes: the spec's
// Output or Error with Slurm's %j (job id), %x (job name), %u (user) and %%
// replaced, relative to workdir; by default a file in the job directory.
func OutputPath(job core.Job, stream, jobDir, workdir string) (string, error) {
	var pattern string
	switch stream {
	case "stdout":
		pattern = job.Spec.Output
	case "stderr":
		pattern = job.Spec.Error
	default:
		return "", fmt.Errorf("unknown stream %q, want stdout or stderr", stream)
	}
	if pattern == "" {
		return filepath.Join(jobDir, stream), nil
	}
	name := job.Name
	if name == "" {
		name = job.Spec.Name
	}
	r := strings.NewReplacer("%%", "%", "%j", job.ID.String(), "%x", name, "%u", job.User)
	p := r.Replace(pattern)
	if !filepath.IsAbs(p) {
		p = filepath.Join(workdir, p)
	}
	return p, nil
}

// openOutputs creates (truncating) the job's output files. When both
// streams name the same file, it is opened once so they interleave.
func openOutputs(job core.Job, dir, workdir string) (stdout, stderr *os.File, err error) {
	op, err := OutputPath(job, "stdout", dir, workdir)
	if err != nil {
		return nil, nil, err
	}
	ep, err := OutputPath(job, "stderr", dir, workdir)
	if err != nil {
		return nil, nil, err
	}
	open := func(p string) (*os.File, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open output: %w", err)
		}
		return f, nil
	}
	if stdout, err = open(op); err != nil {
		return nil, nil, err
	}
	if ep == op {
		// Two *os.File on one descriptor would close it twice.
		fd, err := syscall.Dup(int(stdout.Fd()))
		if err != nil {
			stdout.Close()
			return nil, nil, fmt.Errorf("open output: %w", err)
		}
		return stdout, os.NewFile(uintptr(fd), ep), nil
	}
	if stderr, err = open(ep); err != nil {
		stdout.Close()
		return nil, nil, err
	}
	return stdout, stderr, nil
}

// inherited are the controller's environment variables a job sees. The rest
// (database URLs, tokens) stays with the controller.
var inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// jobEnv is a job's environment: a few inherited variables, the spec's Env,
// and the GF_* variables and accelerator masks, which win over both.
func jobEnv(job core.Job) []string {
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range job.Spec.Env {
		env[k] = v
	}
	name, project := job.Name, job.Project
	if name == "" {
		name = job.Spec.Name
	}
	if project == "" {
		project = job.Spec.Project
	}
	env["GF_JOB_ID"] = job.ID.String()
	env["GF_JOB_NAME"] = name
	env["GF_PROJECT"] = project
	env["GF_ATTEMPT"] = strconv.Itoa(job.Attempt)
	var accels []string
	var milli core.Milli
	if a := job.Alloc; a != nil {
		env["GF_SITE"] = a.Site
		for _, n := range a.Nodes {
			if env["GF_NODE"] == "" {
				env["GF_NODE"] = n.Node
			}
			for _, i := range n.Accels {
				if s := strconv.Itoa(i); !slices.Contains(accels, s) {
					accels = append(accels, s)
				}
			}
			if n.Milli > 0 {
				milli += n.Milli
			}
		}
	}
	if env["GF_NODE"] == "" {
		env["GF_NODE"], _ = os.Hostname()
	}
	// An empty mask hides every device from a job that was given none.
	list := strings.Join(accels, ",")
	env["GF_ACCELERATORS"] = list
	env["CUDA_VISIBLE_DEVICES"] = list
	env["ROCR_VISIBLE_DEVICES"] = list
	env["HIP_VISIBLE_DEVICES"] = list
	if milli > 0 {
		env["GF_ACCELERATOR_MILLI"] = strconv.FormatInt(int64(milli), 10)
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
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
// across restarts, as long as the files exist.
func (d *Driver) Logs(ctx context.Context, job core.Job, stream string) (io.ReadCloser, error) {
	workdir := job.Spec.WorkDir
	if workdir == "" {
		workdir = d.jobDir(job.ID)
	}
	p, err := OutputPath(job, stream, d.jobDir(job.ID), workdir)
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, err)
	}
	return f, nil
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

	p := &proc{job: job, dir: d.jobDir(job.ID), handle: job.Handle}
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
