package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

func ended(j core.Job) bool { return j.State.Terminal() }

func dep(t *testing.T, s string) *core.Dependency {
	t.Helper()
	d, err := spec.ParseDependency(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (h *harness) status(t *testing.T, id core.JobID) string {
	t.Helper()
	st, err := h.d.Statuses(context.Background(), []core.JobID{id})
	if err != nil {
		t.Fatal(err)
	}
	return st[id].Reason
}

// A chain of three afterok jobs whose first fails: the second and the third
// end DependencyNeverSatisfied, without running; an afternotok job runs.
func TestDependencyChain(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	one := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sh", "-c", "sleep 0.3; exit 3"}, Accelerators: 1000}))
	two := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Dependency: dep(t, "afterok:"+one.String())}))
	three := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Dependency: dep(t, "afterok:"+two.String())}))
	rescue := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Dependency: dep(t, "afternotok:"+one.String())}))
	if r := h.status(t, three); r != core.ReasonDependency {
		t.Errorf("job three waits with reason %q, want %q", r, core.ReasonDependency)
	}
	for _, id := range []core.JobID{two, three} {
		j := h.wait(t, id, ended)
		if j.State != core.StateFailed || j.Reason != core.ReasonDependencyNeverSatisfied || j.StartTime != nil {
			t.Errorf("job %d: %s %q (started %v), want failed %q, never started", id, j.State, j.Reason, j.StartTime, core.ReasonDependencyNeverSatisfied)
		}
	}
	if j := h.wait(t, rescue, ended); j.State != core.StateCompleted {
		t.Errorf("afternotok job: %s %q, want completed", j.State, j.Reason)
	}
}

// Dependent jobs start only after what they wait for ends, and they wait
// across a restart of the controller.
func TestDependencyAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, nil)
	first := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "1"}, Accelerators: 1000}))
	second := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Dependency: dep(t, "afterany:"+first.String())}))
	h.wait(t, first, func(j core.Job) bool { return j.State == core.StateRunning })
	h.stop()
	h.stop = nil
	h = start(t, dir, nil)
	if r := h.status(t, second); r != core.ReasonDependency {
		t.Errorf("after restart job %d waits with reason %q, want %q", second, r, core.ReasonDependency)
	}
	a := h.wait(t, first, ended)
	b := h.wait(t, second, ended)
	if b.State != core.StateCompleted || b.StartTime == nil || a.EndTime == nil || b.StartTime.Before(*a.EndTime) {
		t.Fatalf("second: %s, started %v; first ended %v", b.State, b.StartTime, a.EndTime)
	}
}

// An array's throttle holds: never more than two of its six tasks run at
// once, and the others wait with reason JobArrayTaskLimit.
func TestArrayThrottle(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	arr := &core.JobArray{Ranges: []core.ArrayRange{{First: 0, Last: 5}}, Throttle: 2}
	var batch []core.Job
	for _, i := range arr.Indices() {
		j := tenant("a", core.JobSpec{Command: []string{"sleep", "0.3"}, Accelerators: 1000, Array: arr})
		j.ArrayJobID, j.ArrayTaskID = -1, &i
		batch = append(batch, j)
	}
	jobs, _, err := h.d.Submit(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if r := h.status(t, jobs[5].ID); r != core.ReasonArrayTaskLimit {
		t.Errorf("task 5 waits with reason %q, want %q", r, core.ReasonArrayTaskLimit)
	}
	var ends []core.Job
	for _, j := range jobs {
		ends = append(ends, h.wait(t, j.ID, ended))
	}
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, j := range ends {
		if j.State != core.StateCompleted {
			t.Fatalf("task %s: %s %q", j.DisplayID(), j.State, j.Reason)
		}
		edges = append(edges, edge{*j.StartTime, +1}, edge{*j.EndTime, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends before starts at the same instant
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	if most > 2 {
		t.Fatalf("%d tasks ran at once, throttle 2", most)
	}
}

// --begin holds a job (reason BeginTime) until its time; --deadline ends a
// job that cannot start in time (reason DeadLine) without running it.
func TestBeginAndDeadline(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	begin := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Begin: "now+2"}))
	if r := h.status(t, begin); r != core.ReasonBeginTime {
		t.Errorf("begin job waits with reason %q, want %q", r, core.ReasonBeginTime)
	}
	hog := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "30"}, Accelerators: 4000}))
	h.wait(t, hog, func(j core.Job) bool { return j.State == core.StateRunning })
	late := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Deadline: "now+2", Walltime: core.Duration(time.Second)}))
	j := h.wait(t, late, ended)
	if j.State != core.StateCancelled || j.Reason != "DeadLine" || j.StartTime != nil {
		t.Errorf("late job: %s %q (started %v), want cancelled DeadLine, never started", j.State, j.Reason, j.StartTime)
	}
	if _, err := h.d.Cancel(context.Background(), hog, "test"); err != nil {
		t.Fatal(err)
	}
	b := h.wait(t, begin, ended)
	if b.State != core.StateCompleted || b.StartTime.Sub(b.SubmitTime) < 2*time.Second {
		t.Errorf("begin job: %s, started %v after submission, want completed, at least 2 s after", b.State, b.StartTime.Sub(b.SubmitTime))
	}
}
