// Package sim is a driver whose jobs run in virtual time: nothing executes,
// a job simply "runs" for a duration read from its spec against a clock the
// caller controls. The digital twin and tests use it to drive the same
// daemon code as a real site, deterministically.
//
// A job's duration is, in order of preference: its GF_SIM_DURATION
// environment variable (Go duration text such as "90m", or a number of
// seconds), its walltime, or one minute. GF_SIM_EXIT_CODE makes it end with
// that exit code (failed unless 0). A job whose duration exceeds its
// walltime ends in timeout at the walltime. The command and script are
// ignored, so one spec can serve this driver and a real one.
package sim

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
)

// Compile-time checks of the capabilities the sim driver offers.
var (
	_ driver.Driver  = (*Driver)(nil)
	_ driver.Adopter = (*Driver)(nil)
)

// Environment variables a job's spec may set to shape its simulated run.
const (
	EnvDuration = "GF_SIM_DURATION"
	EnvExitCode = "GF_SIM_EXIT_CODE"
)

// DefaultDuration is how long a job without duration or walltime runs.
const DefaultDuration = time.Minute

// Driver simulates a site. It is safe for concurrent use; its output depends
// only on the calls made and the clock's values.
type Driver struct {
	clock func() time.Time

	mu   sync.Mutex
	jobs map[key]*job
	seq  int // numbers handles
}

type key struct {
	id      core.JobID
	attempt int
}

// job is one simulated attempt.
type job struct {
	key      key
	handle   string
	start    time.Time
	end      time.Time  // when it ends by itself
	state    core.State // the state it ends in by itself
	reason   string
	exitCode *int
	cancel   *time.Time // when it was cancelled, if before end
	running  bool       // running reported
	done     bool       // terminal reported (by Poll or Adopt)
}

// New returns a driver reading virtual time from clock.
func New(clock func() time.Time) *Driver {
	return &Driver{clock: clock, jobs: make(map[key]*job)}
}

// Duration is how long job would run, as described in the package comment.
func Duration(spec core.JobSpec) (time.Duration, error) {
	if s, ok := spec.Env[EnvDuration]; ok {
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || secs < 0 {
			return 0, fmt.Errorf("%s=%q: want a duration such as 90m or a number of seconds", EnvDuration, s)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	if spec.Walltime > 0 {
		return time.Duration(spec.Walltime), nil
	}
	return DefaultDuration, nil
}

// Start begins job's simulated run at the current virtual time.
func (d *Driver) Start(ctx context.Context, j core.Job) (string, error) {
	dur, err := Duration(j.Spec)
	if err != nil {
		return "", fmt.Errorf("start job %d: %w", j.ID, err)
	}
	code := 0
	if s, ok := j.Spec.Env[EnvExitCode]; ok {
		if code, err = strconv.Atoi(s); err != nil {
			return "", fmt.Errorf("start job %d: %s=%q: want an integer", j.ID, EnvExitCode, s)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k := key{j.ID, j.Attempt}
	if old, ok := d.jobs[k]; ok && !old.done {
		return "", fmt.Errorf("start job %d: attempt %d already running as %s", j.ID, j.Attempt, old.handle)
	}
	d.seq++
	now := d.clock()
	s := &job{key: k, handle: fmt.Sprintf("sim:%d", d.seq), start: now, end: now.Add(dur), exitCode: &code}
	switch wall := time.Duration(j.Spec.Walltime); {
	case wall > 0 && dur > wall:
		s.end, s.state, s.exitCode = now.Add(wall), core.StateTimeout, nil
		s.reason = "walltime " + wall.String() + " exceeded"
	case code == 0:
		s.state = core.StateCompleted
	default:
		s.state, s.reason = core.StateFailed, fmt.Sprintf("exit code %d", code)
	}
	d.jobs[k] = s
	return s.handle, nil
}

// Cancel ends a running job at the current virtual time. A job that has
// already ended is left alone; an unknown one gives driver.ErrUnknownJob.
func (d *Driver) Cancel(ctx context.Context, j core.Job) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.jobs[key{j.ID, j.Attempt}]
	if !ok {
		return fmt.Errorf("cancel job %d: %w", j.ID, driver.ErrUnknownJob)
	}
	now := d.clock()
	if s.done || s.cancel != nil || !now.Before(s.end) {
		return nil
	}
	s.cancel = &now
	return nil
}

// Poll reports, in job order, each job's start and its end once the clock
// has reached it. Updates carry the virtual time the change happened.
func (d *Driver) Poll(ctx context.Context) ([]driver.Update, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock()
	var out []driver.Update
	for _, s := range d.sorted() {
		if s.done {
			continue
		}
		if !s.running {
			s.running = true
			out = append(out, s.update(core.StateRunning, s.start))
		}
		if u, ok := s.endBy(now); ok {
			s.done = true
			out = append(out, u)
		}
	}
	return out, nil
}

// Adopt answers for jobs after a (simulated) controller restart: the ones
// this instance runs are running or, if they ended, in their final state;
// any other failed with "controller restarted".
func (d *Driver) Adopt(ctx context.Context, jobs []core.Job) ([]driver.Update, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock()
	out := make([]driver.Update, 0, len(jobs))
	for _, j := range jobs {
		s, ok := d.jobs[key{j.ID, j.Attempt}]
		if !ok {
			out = append(out, driver.Update{JobID: j.ID, Attempt: j.Attempt, Handle: j.Handle,
				State: core.StateFailed, Reason: "controller restarted", Time: now})
			continue
		}
		s.running = true
		if u, ok := s.endBy(now); ok {
			s.done = true // Adopt answered for the end; Poll does not repeat it
			out = append(out, u)
			continue
		}
		out = append(out, s.update(core.StateRunning, now))
	}
	return out, nil
}

// endBy returns s's terminal update if it has ended by now.
func (s *job) endBy(now time.Time) (driver.Update, bool) {
	if s.cancel != nil {
		u := s.update(core.StateCancelled, *s.cancel)
		u.Reason = "cancelled"
		return u, true
	}
	if now.Before(s.end) {
		return driver.Update{}, false
	}
	u := s.update(s.state, s.end)
	u.ExitCode, u.Reason = s.exitCode, s.reason
	return u, true
}

func (s *job) update(state core.State, at time.Time) driver.Update {
	return driver.Update{JobID: s.key.id, Attempt: s.key.attempt, Handle: s.handle, State: state, Time: at}
}

// sorted lists the jobs by id and attempt, so Poll's order is stable.
func (d *Driver) sorted() []*job {
	out := make([]*job, 0, len(d.jobs))
	for _, s := range d.jobs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *job) int {
		return cmp.Or(cmp.Compare(a.key.id, b.key.id), cmp.Compare(a.key.attempt, b.key.attempt))
	})
	return out
}
