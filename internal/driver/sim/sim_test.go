package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/drivertest"
)

// clock is a virtual clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) drivertest.Instance {
			c := newClock()
			d := New(c.Now)
			return drivertest.Instance{
				Driver:  d,
				Advance: c.Advance,
				Restart: func(*testing.T) driver.Driver { return d },
			}
		},
		Tick: time.Minute,
		Node: "sim-0",
	})
}

func simJob(id core.JobID, env map[string]string, walltime time.Duration) core.Job {
	return core.Job{ID: id, Spec: core.JobSpec{Env: env, Walltime: core.Duration(walltime)}}
}

func TestDuration(t *testing.T) {
	tests := map[string]struct {
		spec    core.JobSpec
		want    time.Duration
		wantErr bool
	}{
		"go duration":   {core.JobSpec{Env: map[string]string{EnvDuration: "90m"}}, 90 * time.Minute, false},
		"seconds":       {core.JobSpec{Env: map[string]string{EnvDuration: "1.5"}}, 1500 * time.Millisecond, false},
		"over walltime": {core.JobSpec{Env: map[string]string{EnvDuration: "2h"}, Walltime: core.Duration(time.Hour)}, 2 * time.Hour, false},
		"walltime":      {core.JobSpec{Walltime: core.Duration(time.Hour)}, time.Hour, false},
		"default":       {core.JobSpec{}, time.Minute, false},
		"garbage":       {core.JobSpec{Env: map[string]string{EnvDuration: "soon"}}, 0, true},
		"negative":      {core.JobSpec{Env: map[string]string{EnvDuration: "-3"}}, 0, true},
	}
	for name, tt := range tests {
		got, err := Duration(tt.spec)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: Duration = %v, %v; want %v, error %v", name, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestTimeline checks the virtual times and states of a small scenario,
// and that replaying it gives the same updates.
func TestTimeline(t *testing.T) {
	run := func() []driver.Update {
		c := newClock()
		d := New(c.Now)
		ctx := context.Background()
		start := func(j core.Job) {
			if _, err := d.Start(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		start(simJob(3, map[string]string{EnvDuration: "30m"}, 0))
		start(simJob(1, map[string]string{EnvDuration: "2h"}, time.Hour))
		start(simJob(2, map[string]string{EnvDuration: "10m", EnvExitCode: "7"}, 0))
		start(simJob(4, map[string]string{EnvDuration: "5h"}, 0))
		var all []driver.Update
		poll := func() {
			us, err := d.Poll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, us...)
		}
		poll()
		c.Advance(20 * time.Minute)
		if err := d.Cancel(ctx, simJob(4, nil, 0)); err != nil {
			t.Fatal(err)
		}
		c.Advance(3 * time.Hour) // poll late: ends carry their own times
		poll()
		// Cancelling a job after its end is a no-op, even unpolled.
		if err := d.Cancel(ctx, simJob(3, nil, 0)); err != nil {
			t.Fatal(err)
		}
		poll()
		return all
	}
	t0 := newClock().Now()
	code := func(c int) *int { return &c }
	want := []driver.Update{
		{JobID: 1, Handle: "sim:2", State: core.StateRunning, Time: t0},
		{JobID: 2, Handle: "sim:3", State: core.StateRunning, Time: t0},
		{JobID: 3, Handle: "sim:1", State: core.StateRunning, Time: t0},
		{JobID: 4, Handle: "sim:4", State: core.StateRunning, Time: t0},
		{JobID: 1, Handle: "sim:2", State: core.StateTimeout, Reason: "walltime 1h0m0s exceeded", Time: t0.Add(time.Hour)},
		{JobID: 2, Handle: "sim:3", State: core.StateFailed, ExitCode: code(7), Reason: "exit code 7", Time: t0.Add(10 * time.Minute)},
		{JobID: 3, Handle: "sim:1", State: core.StateCompleted, ExitCode: code(0), Time: t0.Add(30 * time.Minute)},
		{JobID: 4, Handle: "sim:4", State: core.StateCancelled, Reason: "cancelled", Time: t0.Add(20 * time.Minute)},
	}
	got := run()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got, run()); diff != "" {
		t.Errorf("a replay differs (-first +second):\n%s", diff)
	}
}

func TestStartErrors(t *testing.T) {
	d := New(newClock().Now)
	ctx := context.Background()
	if _, err := d.Start(ctx, simJob(1, map[string]string{EnvExitCode: "x"}, 0)); err == nil {
		t.Error("bad exit code accepted")
	}
	if _, err := d.Start(ctx, simJob(2, nil, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(ctx, simJob(2, nil, 0)); err == nil {
		t.Error("second start of a running attempt accepted")
	}
}
