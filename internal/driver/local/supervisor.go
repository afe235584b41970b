package local

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The supervisor is a small process between the controller and each job. The
// driver launches it by re-executing its own binary (/proc/self/exe) with
// argv[0] set to supervisorArg0; the init function below turns such a
// process into a supervisor before main runs. This is why any binary that
// links this package (gf, a test binary) can run local jobs without a helper
// program installed next to it.
//
//	controller ──Setsid──▶ supervisor (own session; the job's handle; the server's user)
//	                          └─Setpgid─▶ exec stage (exec.go) ══exec══▶ job ─▶ children
//	                                      (own process group; the job's user)
//
// The supervisor, not the controller, owns everything that must survive a
// controller restart: it enforces the walltime, escalates SIGTERM to SIGKILL
// on cancel, reaps the job, decodes its wait status exactly (exit 137 and
// SIGKILL stay distinct), kills what is left of the group, and writes the
// outcome to exit.json. The job runs in a process group of its own so that
// signals to the group never reach the supervisor: a SIGKILL to the job
// cannot take its bookkeeping down with it. The supervisor keeps the
// server's identity, and its records live in the job's state directory,
// which the job's user cannot write: a forged process group in
// supervisor.json would have a restarted controller kill someone else's.
//
// Protocol: argv is supervisorArg0 STATEDIR ATTEMPT WALLTIME_NS GRACE_NS NEWNS.
// STATEDIR/launch.json says what to run (a launch); NEWNS "1" starts the
// exec stage in a mount namespace of its own. The supervisor reports on fd 3
// one JSON line (a report) once the job's program has been executed or has
// failed to be, writes supervisor.json (its pid, start time and the job's
// process group) and, at the end, exit.json (an exitRecord). SIGTERM,
// SIGINT or SIGHUP to the supervisor means "cancel the job".
const supervisorArg0 = "gf-local-supervisor"

func init() {
	if len(os.Args) > 0 {
		switch os.Args[0] {
		case supervisorArg0:
			os.Exit(supervise(os.Args[1:]))
		case execArg0:
			os.Exit(execJob(os.Args[1:]))
		}
	}
}

// Files in a job's state directory.
const (
	supervisorFile = "supervisor.json"
	exitFile       = "exit.json"
	logFile        = "supervisor.log" // the supervisor's own stderr
)

// report is the supervisor's first and only message on fd 3, and the exec
// stage's, when it fails, to the supervisor.
type report struct {
	StartTime uint64 `json:"starttime,omitempty"` // the supervisor's, from /proc/self/stat
	PGID      int    `json:"pgid,omitempty"`
	Error     string `json:"error,omitempty"`
	Errno     int    `json:"errno,omitempty"` // the system call's, when one refused
}

// supervisorInfo is supervisor.json: enough to find and signal the job after a
// controller restart even if the handle was never stored.
type supervisorInfo struct {
	Attempt   int    `json:"attempt"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"starttime"`
	PGID      int    `json:"pgid"`
}

// Outcomes recorded in exit.json.
const (
	outcomeExited    = "exited"    // the job ended by itself (exit or signal)
	outcomeCancelled = "cancelled" // the supervisor was asked to cancel it
	outcomeTimeout   = "timeout"   // the supervisor stopped it at its walltime
)

// exitRecord is exit.json.
type exitRecord struct {
	Attempt  int       `json:"attempt"`
	Outcome  string    `json:"outcome"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Signal   string    `json:"signal,omitempty"`
	Walltime string    `json:"walltime,omitempty"` // for timeouts, as time.Duration text
	End      time.Time `json:"end"`
}

// supervise runs one job and returns the supervisor's exit status. Errors
// before the job starts go to fd 3 (the driver turns them into Start's
// error); later ones can only go to stderr, the state directory's
// supervisor.log.
func supervise(args []string) int {
	report3 := os.NewFile(3, "report")
	syscall.CloseOnExec(3) // the job must not inherit the report pipe
	fail := func(r report) int {
		if report3 != nil {
			json.NewEncoder(report3).Encode(r)
			report3.Close()
		}
		fmt.Fprintln(os.Stderr, "gf-local-supervisor:", r.Error)
		return 127
	}
	failf := func(format string, a ...any) int { return fail(report{Error: fmt.Sprintf(format, a...)}) }
	if len(args) != 5 {
		return failf("usage: %s STATEDIR ATTEMPT WALLTIME_NS GRACE_NS NEWNS", supervisorArg0)
	}
	dir := args[0]
	attempt, err1 := strconv.Atoi(args[1])
	walltime, err2 := strconv.ParseInt(args[2], 10, 64)
	grace, err3 := strconv.ParseInt(args[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return failf("bad arguments: %v", err)
	}

	// Listen before starting the job so a cancel that races the start is
	// not lost.
	cancelc := make(chan os.Signal, 1)
	signal.Notify(cancelc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	r, w, err := os.Pipe()
	if err != nil {
		return failf("%v", err)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{execArg0, dir},
		Stdout:      os.Stderr,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{w},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if args[4] == "1" {
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return failf("start the job: %v", err)
	}
	pgid := cmd.Process.Pid
	// The exec stage writes a report only if it fails; end of file means
	// the job's program now runs.
	if line, _ := bufio.NewReader(r).ReadBytes('\n'); len(line) > 0 {
		r.Close()
		var rep report
		if err := json.Unmarshal(line, &rep); err != nil || rep.Error == "" {
			rep = report{Error: fmt.Sprintf("the job's exec stage said %q", line)}
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		return fail(rep)
	}
	r.Close()
	self, err := readStat(os.Getpid())
	if err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		return failf("read own start time: %v", err)
	}
	info := supervisorInfo{Attempt: attempt, PID: os.Getpid(), StartTime: self.starttime, PGID: pgid}
	if err := writeJSON(filepath.Join(dir, supervisorFile), info); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		return failf("%v", err)
	}
	json.NewEncoder(report3).Encode(report{StartTime: self.starttime, PGID: pgid})
	report3.Close()

	waitc := make(chan *os.ProcessState, 1)
	go func() {
		cmd.Wait() // the state is all we need; Wait's error repeats it
		waitc <- cmd.ProcessState
	}()
	var wallc, warnc <-chan time.Time
	if walltime > 0 {
		wallc = time.After(time.Duration(walltime))
	}
	var l launch
	if err := readJSON(filepath.Join(dir, launchFile), &l); err != nil {
		fmt.Fprintln(os.Stderr, "gf-local-supervisor: no --signal:", err)
	}
	if l.Signal != nil && walltime > 0 {
		warnc = time.After(max(time.Duration(walltime)-time.Duration(l.Signal.Seconds)*time.Second, 0))
	}

	outcome := outcomeExited
	var killTimer *time.Timer
	// stop ends the job once: SIGTERM (and SIGCONT, so a stopped job can act
	// on it) to the group, SIGKILL after the grace period.
	stop := func(why string) {
		if outcome != outcomeExited {
			return
		}
		outcome = why
		syscall.Kill(-pgid, syscall.SIGTERM)
		syscall.Kill(-pgid, syscall.SIGCONT)
		killTimer = time.AfterFunc(time.Duration(grace), func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	}
	var ps *os.ProcessState
	for ps == nil {
		select {
		case ps = <-waitc:
		case <-cancelc:
			stop(outcomeCancelled)
		case <-wallc:
			stop(outcomeTimeout)
		case <-warnc:
			if outcome == outcomeExited {
				warn(pgid, l)
			}
		}
	}
	if killTimer != nil {
		killTimer.Stop()
	}
	// The job's main process is gone; like Slurm, end whatever it left
	// behind in its group.
	syscall.Kill(-pgid, syscall.SIGKILL)

	rec := exitRecord{Attempt: attempt, Outcome: outcome, End: time.Now().UTC()}
	ws := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		rec.Signal = signalName(ws.Signal())
	default:
		code := ws.ExitStatus()
		rec.ExitCode = &code
	}
	if outcome == outcomeTimeout {
		rec.Walltime = time.Duration(walltime).String()
	}
	if err := writeJSON(filepath.Join(dir, exitFile), rec); err != nil {
		fmt.Fprintln(os.Stderr, "gf-local-supervisor:", err)
		return 1
	}
	return 0
}

// warn sends the job's --signal ahead of its walltime, as Slurm does: with
// B: to the batch shell alone (the group's leader); otherwise to the job's
// processes but the batch shell of a script, which Slurm spares too, and
// to the whole group of a command, whose program is the work itself.
func warn(pgid int, l launch) {
	sig, err := parseSignal(l.Signal.Name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gf-local-supervisor: --signal:", err)
		return
	}
	switch {
	case l.Signal.BatchOnly:
		syscall.Kill(pgid, sig)
	case l.SignalShell:
		for _, pid := range groupMembers(pgid) {
			if pid != pgid {
				syscall.Kill(pid, sig)
			}
		}
	default:
		syscall.Kill(-pgid, sig)
	}
}

// writeJSON writes v to path atomically (a temporary file, then rename), so
// a reader never sees half a record.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readJSON reads a file written by writeJSON.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
