package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// unreachable reads, on the loop goroutine, the sites the daemon has
// backed off from since it started.
func (h *harness) unreachable(t *testing.T) []string {
	t.Helper()
	var out []string
	if err := h.d.do(context.Background(), func(context.Context) {
		for s := range h.d.unreachable {
			out = append(out, s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *harness) submit(t *testing.T, j core.Job) core.JobID {
	t.Helper()
	jobs, _, err := h.d.Submit(context.Background(), []core.Job{j})
	if err != nil {
		t.Fatal(err)
	}
	return jobs[0].ID
}

func tenant(org string, spec core.JobSpec) core.Job {
	return core.Job{Org: org, Project: org + "-p", User: org + "-u", Spec: spec}
}

// A job that cannot start for its own fault fails alone with the reason;
// the site is never backed off, and another tenant's job submitted right
// after runs to completion on it.
func TestJobFaultFailsAlone(t *testing.T) {
	tests := map[string]struct {
		spec   core.JobSpec
		reason string // the failed job's reason says this
	}{
		// Linux's MAX_ARG_STRLEN is 128 KiB per string.
		"argument of 200 KB (E2BIG)": {
			spec:   core.JobSpec{Command: []string{"echo", strings.Repeat("x", 200<<10)}, Accelerators: 1000},
			reason: "argument list too long",
		},
		"output in a missing directory": {
			spec:   core.JobSpec{Command: []string{"true"}, Output: "missing/dir/out.log", Accelerators: 1000},
			reason: "could not start",
		},
		"program that does not exist": {
			spec:   core.JobSpec{Command: []string{"/nonexistent/program"}, Accelerators: 1000},
			reason: "could not start",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := start(t, t.TempDir(), nil)
			bad := h.submit(t, tenant("mallory", tc.spec))
			good := h.submit(t, tenant("alice", core.JobSpec{Command: []string{"sh", "-c", "echo ok"}, Accelerators: 1000}))
			j := h.wait(t, bad, func(j core.Job) bool { return j.State.Terminal() })
			if j.State != core.StateFailed || !strings.Contains(j.Reason, tc.reason) {
				t.Errorf("bad job ended %s (%q), want failed saying %q", j.State, j.Reason, tc.reason)
			}
			if j.Attempt != 0 || h.drv.starts.Load() > 2 {
				t.Errorf("bad job was retried: attempt %d, %d starts in all", j.Attempt, h.drv.starts.Load())
			}
			g := h.wait(t, good, func(j core.Job) bool { return j.State.Terminal() })
			if g.State != core.StateCompleted {
				t.Errorf("the other tenant's job ended %s (%q), want completed", g.State, g.Reason)
			}
			if u := h.unreachable(t); len(u) > 0 {
				t.Errorf("sites backed off for a job's fault: %v", u)
			}
			evs, _ := h.st.JobEvents(context.Background(), g.ID)
			for _, e := range evs {
				if strings.Contains(e.Message, "unreachable") {
					t.Errorf("the other tenant's job waited for the site: %s", e.Message)
				}
			}
		})
	}
}

// A start that keeps failing for the site's fault is retried
// StartRetries times, backing the site off, then the job fails with the
// reason instead of looping for ever.
func TestStartRetriesExhausted(t *testing.T) {
	// A clock that moves 10 s at every reading: the site's backoffs (2 s,
	// 4 s) are over by the next turn, so the test does not sleep through
	// them.
	var ticks atomic.Int64
	base := time.Now()
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * 10 * time.Second) }
	dir := t.TempDir()
	h := startWith(t, dir, nil, func(o *Options) { o.StartRetries, o.Clock = 2, clock })
	h.drv.failStarts.Store(1000)
	id := h.submit(t, tenant("alice", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	j := h.wait(t, id, func(j core.Job) bool { return j.State.Terminal() })
	if j.State != core.StateFailed || !strings.Contains(j.Reason, "failed 3 times in a row") || !strings.Contains(j.Reason, "site unavailable") {
		t.Fatalf("job ended %s (%q), want failed after 3 starts failing for the site", j.State, j.Reason)
	}
	if got := h.drv.starts.Load(); got != 3 {
		t.Errorf("%d starts, want 3 (the first and 2 retries)", got)
	}
	if u := h.unreachable(t); len(u) != 1 {
		t.Errorf("the failing site was not backed off: %v", u)
	}
}

func TestStartRetriesRefusesNegative(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := New(Options{Store: st, StartRetries: -1}); err == nil || !strings.Contains(err.Error(), "StartRetries") {
		t.Fatalf("err = %v, want one naming StartRetries", err)
	}
}

// When a short job ends (here cancelled), the jobs waiting for its accelerators start in
// the pass that follows: the clock is frozen, so no periodic
// re-prioritisation ever comes, and a start can only be caused by the end.
// Job 3 (1 accelerator) is reserved at the long job's end; job 4 (2, of
// higher priority by size) finds the node held and gets no reservation.
func TestFreedCapacityStartsInOnePass(t *testing.T) {
	frozen := time.Now()
	dir := t.TempDir()
	h := startWith(t, dir, nil, func(o *Options) { o.Clock = func() time.Time { return frozen } })
	running := func(j core.Job) bool { return j.State == core.StateRunning }
	long := h.submit(t, tenant("alice", core.JobSpec{Command: []string{"sleep", "60"}, Accelerators: 1000, Walltime: core.Duration(2 * time.Hour)}))
	t.Cleanup(func() { _, _ = h.d.Cancel(context.Background(), long, "test") })
	h.wait(t, long, running)
	short := h.submit(t, tenant("alice", core.JobSpec{Command: []string{"sleep", "60"}, Accelerators: 3000}))
	h.wait(t, short, running)
	// Each waits: wait for the pass that says why.
	waiting := func(id core.JobID, ok func(engine.Status) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st, err := h.d.Statuses(context.Background(), []core.JobID{id})
			if err != nil {
				t.Fatal(err)
			}
			if st[id].State == core.StatePending && ok(st[id]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d not waiting as set up: %+v", id, st[id])
			}
		}
	}
	reserved := h.submit(t, tenant("bob", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	waiting(reserved, func(s engine.Status) bool { return strings.Contains(strings.Join(s.Reasons, ";"), "reserved:") })
	bigger := h.submit(t, tenant("bob", core.JobSpec{Command: []string{"true"}, Accelerators: 2000}))
	waiting(bigger, func(s engine.Status) bool {
		return strings.Contains(strings.Join(s.Reasons, ";"), "reserved for job") && !strings.Contains(strings.Join(s.Reasons, ";"), "reserved:")
	})
	steps := h.d.Metrics().Steps.Load()
	// The short job ends: cancelled, its end comes through the driver.
	if _, err := h.d.Cancel(context.Background(), short, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []core.JobID{reserved, bigger} {
		if j := h.wait(t, id, func(j core.Job) bool { return j.State.Terminal() }); j.State != core.StateCompleted {
			t.Errorf("job %d ended %s (%q)", id, j.State, j.Reason)
		}
	}
	t.Logf("%d scheduling passes from the short job's end to both starts", h.d.Metrics().Steps.Load()-steps)
}

// A job that gives no walltime gets its site's default when placed: the
// driver is given it and enforces it, and the job's "placed" event says
// it. (The store keeps a job's spec as submitted: the event is the
// record.)
func TestSiteDefaultWalltimeApplied(t *testing.T) {
	s := site
	s.DefaultWalltime, s.MaxWalltime = core.Duration(time.Second), core.Duration(time.Hour)
	h := startWith(t, t.TempDir(), nil, func(o *Options) { o.Sites = []core.Site{s} })
	id := h.submit(t, tenant("alice", core.JobSpec{Command: []string{"sleep", "30"}, Accelerators: 1000}))
	j := h.wait(t, id, func(j core.Job) bool { return j.State.Terminal() })
	if got := time.Duration(h.drv.lastWall.Load()); j.State != core.StateTimeout || got != time.Second {
		t.Fatalf("job ended %s (%q), started with walltime %s; want a timeout at the site's default 1s", j.State, j.Reason, got)
	}
	if j.Spec.Walltime != core.Duration(time.Second) {
		t.Errorf("the stored job's walltime is %v, want the site's default 1s (what the job ran under)", j.Spec.Walltime)
	}
	evs, _ := h.st.JobEvents(context.Background(), id)
	said := false
	for _, e := range evs {
		said = said || e.Type == "placed" && strings.Contains(e.Message, "walltime 1s, the site's default")
	}
	if !said {
		t.Errorf("no placed event names the walltime: %+v", evs)
	}
}
