// Package drivertest is the conformance suite every driver passes: the
// contract of package driver, written as tests.
//
// The cases are phrased as job specs any driver can run: real drivers
// (local, Slurm) run the command, a POSIX shell one-liner; the sim driver
// ignores the command and follows the GF_SIM_* variables set next to it. A
// driver's test file calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		drivertest.Run(t, drivertest.Harness{
//			New: func(t *testing.T) drivertest.Instance {
//				d := ... // a fresh driver, closed by t.Cleanup
//				return drivertest.Instance{Driver: d, Advance: time.Sleep}
//			},
//			Tick: 100 * time.Millisecond,
//		})
//	}
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
)

// Instance is one driver under test.
type Instance struct {
	Driver driver.Driver
	// Restart simulates a controller restart: it stops following the jobs
	// (Close, for a real driver) and returns the driver that takes over
	// (a new one on the same state, or the same one for sim). Nil skips
	// the adoption cases.
	Restart func(t *testing.T) driver.Driver
	// Advance lets d of time pass: a sleep for drivers in real time, a
	// step of the virtual clock for sim.
	Advance func(d time.Duration)
}

// Harness adapts a driver to the suite.
type Harness struct {
	// New returns a fresh driver for one case. Its cleanup is the
	// harness's business (t.Cleanup).
	New func(t *testing.T) Instance
	// Tick is how long a short job runs; every duration of the suite is a
	// multiple of it. Real-time drivers want it small, Slurm about 5s.
	Tick time.Duration
	// Walltime is the limit the walltime case sets. Slurm counts in whole
	// minutes. Default 2 Ticks.
	Walltime time.Duration
	// Timeout is how long to wait for an expected update. Default 50 Ticks
	// plus the walltime.
	Timeout time.Duration
	// Node names the node in the allocations the cases give jobs.
	Node string
	// AccelEnv says the driver exposes the allocation's accelerator indices
	// to the job as CUDA_VISIBLE_DEVICES and keeps its output (LogReader).
	AccelEnv bool
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Tick <= 0 {
		t.Fatal("drivertest: Harness.Tick must be positive")
	}
	if h.Walltime <= 0 {
		h.Walltime = 2 * h.Tick
	}
	if h.Timeout <= 0 {
		h.Timeout = 50*h.Tick + h.Walltime
	}
	cases := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"Completed", testCompleted},
		{"ExitCode", testExitCode},
		{"Cancel", testCancel},
		{"Walltime", testWalltime},
		{"Accelerators", testAccelerators},
		{"UnknownJob", testUnknownJob},
		{"AdoptRunning", testAdoptRunning},
		{"AdoptEnded", testAdoptEnded},
		{"AdoptUnknown", testAdoptUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

// Job returns a job running the shell command sh, which the sim driver
// models as running for simDur and exiting with simExit.
func Job(id core.JobID, sh string, simDur time.Duration, simExit int) core.Job {
	return core.Job{
		ID: id, Name: fmt.Sprintf("conformance-%d", id), Project: "conformance",
		Spec: core.JobSpec{
			Command: []string{"sh", "-c", sh},
			Env:     map[string]string{"GF_SIM_DURATION": simDur.String(), "GF_SIM_EXIT_CODE": fmt.Sprint(simExit)},
		},
	}
}

// seconds formats d for sleep(1), which takes fractions.
func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// recorder polls a driver and checks the invariants every update must keep,
// whichever case is running: running comes before the end, an attempt ends
// once, handles agree with Start's, times are set.
type recorder struct {
	t       *testing.T
	h       Harness
	d       driver.Driver
	advance func(time.Duration)
	handles map[core.JobID]string
	state   map[core.JobID]core.State // latest reported
	seen    []driver.Update
	taken   map[int]bool // indexes into seen already returned by await
}

func newRecorder(t *testing.T, h Harness, in Instance) *recorder {
	if in.Advance == nil {
		t.Fatal("drivertest: Instance.Advance is nil")
	}
	return &recorder{t: t, h: h, d: in.Driver, advance: in.Advance, handles: map[core.JobID]string{}, state: map[core.JobID]core.State{}, taken: map[int]bool{}}
}

// start starts job and returns it with its handle set.
func (r *recorder) start(job core.Job) core.Job {
	r.t.Helper()
	alloc := &core.Allocation{Site: "conformance", Nodes: []core.NodeAlloc{{Node: r.h.Node}}}
	if job.Alloc == nil {
		job.Alloc = alloc
	}
	h, err := r.d.Start(context.Background(), job)
	if err != nil {
		r.t.Fatalf("Start(job %d): %v", job.ID, err)
	}
	if h == "" {
		r.t.Fatalf("Start(job %d) returned an empty handle", job.ID)
	}
	r.handles[job.ID] = h
	job.Handle = h
	return job
}

// poll polls once and checks each update.
func (r *recorder) poll() []driver.Update {
	r.t.Helper()
	us, err := r.d.Poll(context.Background())
	if err != nil {
		r.t.Fatalf("Poll: %v", err)
	}
	for _, u := range us {
		r.check(u)
	}
	r.seen = append(r.seen, us...)
	return us
}

func (r *recorder) check(u driver.Update) {
	r.t.Helper()
	prev := r.state[u.JobID]
	switch {
	case prev.Terminal():
		r.t.Errorf("job %d reported %s after it was already %s", u.JobID, u.State, prev)
	case u.State != core.StateRunning && !u.State.Terminal():
		r.t.Errorf("job %d reported state %q; want running or a terminal state", u.JobID, u.State)
	case u.State == core.StateRunning && prev == core.StateRunning:
		r.t.Errorf("job %d reported running twice", u.JobID)
	}
	if h, ok := r.handles[u.JobID]; ok && u.Handle != h {
		r.t.Errorf("job %d update has handle %q, Start returned %q", u.JobID, u.Handle, h)
	}
	if u.Time.IsZero() {
		r.t.Errorf("job %d %s update has no time", u.JobID, u.State)
	}
	r.state[u.JobID] = u.State
}

// await polls, letting time pass, until job id reaches a state satisfying
// want, and returns that update.
func (r *recorder) await(id core.JobID, what string, want func(core.State) bool) driver.Update {
	r.t.Helper()
	step := r.h.Tick / 10
	for waited := time.Duration(0); ; waited += step {
		// An earlier poll may have returned this update together with the
		// one an earlier await was after (running and completed at once).
		for i, u := range r.seen {
			if u.JobID == id && want(u.State) && !r.taken[i] {
				r.taken[i] = true
				return u
			}
		}
		r.poll()
		if waited > r.h.Timeout {
			r.t.Fatalf("job %d: no %s update within %v (last state %q)", id, what, r.h.Timeout, r.state[id])
		}
		r.advance(step)
	}
}

func (r *recorder) awaitRunning(id core.JobID) driver.Update {
	r.t.Helper()
	if r.state[id] == core.StateRunning {
		return driver.Update{}
	}
	return r.await(id, "running", func(s core.State) bool { return s == core.StateRunning })
}

func (r *recorder) awaitEnd(id core.JobID) driver.Update {
	r.t.Helper()
	return r.await(id, "terminal", core.State.Terminal)
}

// quiet lets a few ticks pass and checks nothing more is reported for the
// ended jobs: an attempt ends exactly once.
func (r *recorder) quiet() {
	r.t.Helper()
	for range 3 {
		r.advance(r.h.Tick)
		r.poll() // check() flags anything after a terminal update
	}
}

func wantExit(t *testing.T, u driver.Update, state core.State, code int) {
	t.Helper()
	if u.State != state || u.ExitCode == nil || *u.ExitCode != code {
		got := "none"
		if u.ExitCode != nil {
			got = fmt.Sprint(*u.ExitCode)
		}
		t.Errorf("job %d: %s with exit code %s (%s), want %s with exit code %d", u.JobID, u.State, got, u.Reason, state, code)
	}
}

func testCompleted(t *testing.T, h Harness) {
	r := newRecorder(t, h, h.New(t))
	r.start(Job(1, "echo hello", h.Tick, 0))
	run := r.awaitRunning(1)
	if run.Attempt != 0 {
		t.Errorf("running update has attempt %d, want 0", run.Attempt)
	}
	end := r.awaitEnd(1)
	wantExit(t, end, core.StateCompleted, 0)
	if end.Time.Before(run.Time) {
		t.Errorf("ended at %v, before it started at %v", end.Time, run.Time)
	}
	r.quiet()
}

func testExitCode(t *testing.T, h Harness) {
	r := newRecorder(t, h, h.New(t))
	job := Job(2, "exit 3", h.Tick, 3)
	job.Attempt = 1
	r.start(job)
	u := r.awaitEnd(2)
	wantExit(t, u, core.StateFailed, 3)
	if u.Attempt != 1 {
		t.Errorf("update has attempt %d, want 1", u.Attempt)
	}
	r.quiet()
}

func testCancel(t *testing.T, h Harness) {
	r := newRecorder(t, h, h.New(t))
	long := 1000 * h.Tick
	job := r.start(Job(3, "sleep "+seconds(long), long, 0))
	r.awaitRunning(3)
	if err := r.d.Cancel(context.Background(), job); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if u := r.awaitEnd(3); u.State != core.StateCancelled {
		t.Errorf("job 3 ended %s (%s), want cancelled", u.State, u.Reason)
	}
	if err := r.d.Cancel(context.Background(), job); err != nil {
		t.Errorf("Cancel of an ended job: %v, want nil (no-op)", err)
	}
	r.quiet()
}

func testWalltime(t *testing.T, h Harness) {
	r := newRecorder(t, h, h.New(t))
	long := 1000 * h.Tick
	job := Job(4, "sleep "+seconds(long), long, 0)
	job.Spec.Walltime = core.Duration(h.Walltime)
	r.start(job)
	u := r.awaitEnd(4)
	if u.State != core.StateTimeout || !strings.Contains(u.Reason, "walltime") {
		t.Errorf("job 4 ended %s (%q), want timeout with a reason naming the walltime", u.State, u.Reason)
	}
	r.quiet()
}

// testAccelerators runs two jobs at once on distinct accelerators; each must
// see its own.
func testAccelerators(t *testing.T, h Harness) {
	if !h.AccelEnv {
		t.Skip("driver does not expose accelerators in the environment")
	}
	r := newRecorder(t, h, h.New(t))
	lr, ok := r.d.(driver.LogReader)
	if !ok {
		t.Fatal("AccelEnv set but the driver is no LogReader")
	}
	sh := "echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep " + seconds(2*h.Tick)
	want := map[core.JobID]string{5: "0,1", 6: "2,3"}
	var jobs []core.Job
	for id, accels := range map[core.JobID][]int{5: {0, 1}, 6: {2, 3}} {
		job := Job(id, sh, 2*h.Tick, 0)
		job.Alloc = &core.Allocation{Site: "conformance", Nodes: []core.NodeAlloc{{Node: h.Node, Accels: accels}}}
		jobs = append(jobs, r.start(job))
	}
	// Both run at the same time: each is running before either ends.
	r.awaitRunning(5)
	r.awaitRunning(6)
	if r.state[5].Terminal() || r.state[6].Terminal() {
		t.Errorf("a job ended before both ran (states %s, %s)", r.state[5], r.state[6])
	}
	for _, job := range jobs {
		if !r.state[job.ID].Terminal() {
			wantExit(t, r.awaitEnd(job.ID), core.StateCompleted, 0)
		}
		rc, err := lr.Logs(context.Background(), job, "stdout")
		if err != nil {
			t.Fatalf("Logs(job %d): %v", job.ID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if line := "CUDA_VISIBLE_DEVICES=" + want[job.ID]; !strings.Contains(string(b), line+"\n") {
			t.Errorf("job %d printed %q, want the line %s", job.ID, b, line)
		}
	}
	r.quiet()
}

func testUnknownJob(t *testing.T, h Harness) {
	d := h.New(t).Driver
	job := Job(99, "true", h.Tick, 0)
	if err := d.Cancel(context.Background(), job); !errors.Is(err, driver.ErrUnknownJob) {
		t.Errorf("Cancel of a job never started: %v, want an error wrapping driver.ErrUnknownJob", err)
	}
	if us, err := d.Poll(context.Background()); err != nil || len(us) > 0 {
		t.Errorf("Poll of a fresh driver: %v, %v; want nothing", us, err)
	}
}

// adoptable skips drivers without Adopter or Restart.
func adoptable(t *testing.T, in Instance) {
	t.Helper()
	if _, ok := in.Driver.(driver.Adopter); !ok || in.Restart == nil {
		t.Skip("driver cannot adopt jobs after a restart")
	}
}

func adopt(t *testing.T, d driver.Driver, job core.Job) driver.Update {
	t.Helper()
	a, ok := d.(driver.Adopter)
	if !ok {
		t.Fatal("the restarted driver is no Adopter")
	}
	us, err := a.Adopt(context.Background(), []core.Job{job})
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if len(us) != 1 || us[0].JobID != job.ID || us[0].Attempt != job.Attempt {
		t.Fatalf("Adopt(job %d) = %+v, want one update for it", job.ID, us)
	}
	return us[0]
}

// testAdoptRunning restarts the controller while a job runs: the new driver
// reports it running and can still cancel it.
func testAdoptRunning(t *testing.T, h Harness) {
	in := h.New(t)
	adoptable(t, in)
	r := newRecorder(t, h, in)
	long := 1000 * h.Tick
	job := r.start(Job(7, "sleep "+seconds(long), long, 0))
	r.awaitRunning(7)

	r.d = in.Restart(t)
	u := adopt(t, r.d, job)
	if u.State != core.StateRunning || u.Handle != job.Handle {
		t.Fatalf("Adopt = %s (%s) handle %q, want running with handle %q", u.State, u.Reason, u.Handle, job.Handle)
	}
	if err := r.d.Cancel(context.Background(), job); err != nil {
		t.Fatalf("Cancel after adoption: %v", err)
	}
	if u := r.awaitEnd(7); u.State != core.StateCancelled {
		t.Errorf("adopted job ended %s (%s), want cancelled", u.State, u.Reason)
	}
	r.quiet()
}

// testAdoptEnded restarts the controller, lets the job end while nobody
// watches, and expects Adopt to know how it ended, once.
func testAdoptEnded(t *testing.T, h Harness) {
	in := h.New(t)
	adoptable(t, in)
	r := newRecorder(t, h, in)
	job := r.start(Job(8, "sleep "+seconds(h.Tick)+"; exit 4", h.Tick, 4))
	r.awaitRunning(8)

	r.d = in.Restart(t)
	r.advance(5 * h.Tick)
	u := adopt(t, r.d, job)
	if u.State == core.StateRunning { // still finishing: follow it
		u = r.awaitEnd(8)
	} else {
		r.check(u)
	}
	wantExit(t, u, core.StateFailed, 4)
	r.quiet()
}

func testAdoptUnknown(t *testing.T, h Harness) {
	in := h.New(t)
	adoptable(t, in)
	job := Job(9, "true", h.Tick, 0)
	u := adopt(t, in.Restart(t), job)
	if u.State != core.StateFailed || u.Reason != "controller restarted" {
		t.Errorf("Adopt of a job never started = %s (%q), want failed, \"controller restarted\"", u.State, u.Reason)
	}
}
