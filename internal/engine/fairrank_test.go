package engine

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// fairFactor is the fair-share factor in j's priority as the queue holds
// it: the breakdown of the last Step, whose tree ranking merge used.
func fairFactor(t *testing.T, e *Engine, id core.JobID) float64 {
	t.Helper()
	b, ok := e.Explain(id)
	if !ok {
		t.Fatalf("job %d unknown", id)
	}
	for _, f := range b.Factors {
		if f.Name == "fairshare" {
			return f.Value
		}
	}
	t.Fatalf("job %d: no fairshare factor in %+v", id, b.Factors)
	return 0
}

// Jobs that arrive between recomputes take the fair-share standing of the
// last recompute (every PriorityInterval), not one ranked again for each
// pass's arrivals; the next recompute ranks the tree anew. At t0 nothing
// is used: orgs a, b, c rank by name. Org a's job runs 10 s; then its
// 16-accelerator job arrives and waits (one node of two is c's), with a
// still first; from the recompute at +1 min, a is behind b, which has
// used nothing.
func TestFreshJobsTakeTheLastRanking(t *testing.T) {
	e := New(DefaultConfig(), []core.Site{site("s", pool("gpu", 2, 8))})
	e.Apply(mkjob(1, "8").Project("a", "pa").Walltime(time.Hour).Ev())
	e.Apply(mkjob(2, "8").Project("c", "pc").Walltime(time.Hour).Ev())
	e.Apply(mkjob(3, "16").Nodes(2).Project("b", "pb").Walltime(time.Hour).Ev())
	in, _ := e.Step(t0)
	if got := starts(in); len(got) != 2 || got[1] == nil || got[2] == nil {
		t.Fatalf("at t0 started %v, want jobs 1 and 2", got)
	}
	for _, i := range in {
		if s, ok := i.(Start); ok {
			e.Apply(Started{ID: s.ID, Alloc: s.Alloc, At: t0})
		}
	}
	e.Apply(Ended{ID: 1, State: core.StateCompleted, At: t0.Add(10 * time.Second)})
	e.Apply(mkjob(4, "16").Nodes(2).Project("a", "pa").Walltime(time.Hour).Submit(t0.Add(20 * time.Second)).Ev())
	if in, _ := e.Step(t0.Add(20 * time.Second)); len(starts(in)) != 0 {
		t.Fatalf("at +20s started %v, want none (one node is c's)", starts(in))
	}
	if got := fairFactor(t, e, 4); got != 1 {
		t.Errorf("between recomputes: job 4's fair-share factor %v, want 1 (org a first, as ranked at t0)", got)
	}
	e.Step(t0.Add(time.Minute))
	if got, want := fairFactor(t, e, 3), 1.0; got != want {
		t.Errorf("after the recompute: job 3's (org b) fair-share factor %v, want %v", got, want)
	}
	if got := fairFactor(t, e, 4); got >= 1 {
		t.Errorf("after the recompute: job 4's fair-share factor %v, want below 1 (org a has used more than b)", got)
	}
}
