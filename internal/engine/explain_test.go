package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// explainWorld is a one-node site under DefaultConfig (fair share ranked,
// priorities recomputed every minute) where org a's 8-accelerator job runs
// from t0 and four jobs of orgs a, b and c wait behind it.
func explainWorld(t *testing.T) *Engine {
	t.Helper()
	e := New(DefaultConfig(), []core.Site{site("s", pool("gpu", 1, 8))})
	e.Apply(mkjob(1, "8").Project("a", "p").Submit(t0.Add(-2 * time.Hour)).Ev())
	e.Apply(mkjob(2, "8").Project("a", "p").Submit(t0.Add(-time.Hour)).Ev())
	e.Apply(mkjob(3, "4").Project("b", "q").QoS(core.QoSFastLane).Ev())
	e.Apply(mkjob(4, "2").Project("c", "r").QoS(core.QoSPlayground).Submit(t0.Add(-24 * time.Hour)).Ev())
	in, _ := e.Step(t0)
	st := starts(in)
	if len(st) != 1 || st[1] == nil {
		t.Fatalf("first pass started %v, want job 1", st)
	}
	e.Apply(Started{ID: 1, Alloc: core.Allocation{Site: "s", Pool: "gpu", Nodes: st[1]}, At: t0})
	return e
}

// sumPoints adds a breakdown's points in its order, as the scheduler adds
// the terms.
func sumPoints(b PriorityBreakdown) float64 {
	s := 0.0
	for _, f := range b.Factors {
		s += f.Points
	}
	return s
}

// TestExplainIsCurrent advances time and checks what gf explain shows: the
// breakdown at now, whose total is the sum of its factors; at a recompute
// it is exactly the value the queue is ordered by; between recomputes its
// factors are now's while the queue keeps its older copy (job 5's account
// joining the tree re-ranks it: the stale 5,925 against factors summing to
// 4,258 of issue 17).
func TestExplainIsCurrent(t *testing.T) {
	e := explainWorld(t)
	// A job of org b arrives later: a new account joins the tree between
	// recomputes.
	e.Apply(mkjob(5, "1").Project("b", "q2").Submit(t0.Add(20 * time.Second)).Ev())
	pending := []core.JobID{2, 3, 4, 5}
	for _, step := range []struct {
		at        time.Duration
		recompute bool // a whole PriorityInterval since the last
	}{
		{30 * time.Second, false},
		{time.Minute, true},
		{90 * time.Second, false},
		{time.Hour, true},
		{time.Hour + 10*time.Second, false},
		{30 * time.Hour, true},
	} {
		now := t0.Add(step.at)
		if in, _ := e.Step(now); len(in) != 0 {
			t.Fatalf("at +%s: the full node started %v", step.at, starts(in))
		}
		var order []float64
		for _, s := range e.Pending() {
			order = append(order, s.Priority)
		}
		for i := 1; i < len(order); i++ {
			if order[i] > order[i-1] {
				t.Errorf("at +%s: pending not in priority order: %v", step.at, order)
			}
		}
		for _, id := range pending {
			b, ok := e.ExplainAt(id, now)
			st, ok2 := e.Status(id)
			if !ok || !ok2 {
				t.Fatalf("at +%s: job %d unknown", step.at, id)
			}
			// DefaultConfig: age, fairshare, qos, size, class, attained.
			if len(b.Factors) != 6 || b.Total != sumPoints(b) {
				t.Errorf("at +%s: job %d: total %v, factors %+v summing to %v", step.at, id, b.Total, b.Factors, sumPoints(b))
			}
			switch {
			case step.recompute && b.Total != st.Priority:
				t.Errorf("at +%s (a recompute): job %d: Explain %v, the queue orders by %v", step.at, id, b.Total, st.Priority)
			}
			// The age factor is now's, recompute or not (the queue's
			// copy keeps the last recompute's).
			j := e.jobs.get(id)
			if want := now.Sub(j.SubmitTime).Seconds() / e.cfg.Priority.MaxAge.Seconds(); b.Factors[0].Value != want {
				t.Errorf("at +%s: job %d: age factor %v, want %v (now's)", step.at, id, b.Factors[0].Value, want)
			}
		}
	}
	// Org a has used the whole node for 30 hours: its waiting job has the
	// least fair share of all.
	fa, _ := e.ExplainAt(2, t0.Add(30*time.Hour))
	for _, id := range []core.JobID{3, 4, 5} {
		fo, _ := e.ExplainAt(id, t0.Add(30*time.Hour))
		if !(fa.Factors[1].Value < fo.Factors[1].Value) {
			t.Errorf("fair share of org a's job %v, not below job %d's %v", fa.Factors[1].Value, id, fo.Factors[1].Value)
		}
	}
	// Asked before the last Step, the breakdown is the last Step's.
	early, _ := e.ExplainAt(3, t0)
	last, _ := e.Explain(3)
	if early.Total != last.Total {
		t.Errorf("ExplainAt before the last Step = %v, Explain = %v", early.Total, last.Total)
	}
}

// TestExplainChangesNoDecision runs the same events through two engines,
// asking one for every job's breakdown before each Step: the passes and
// the queues must be identical.
func TestExplainChangesNoDecision(t *testing.T) {
	a, b := explainWorld(t), explainWorld(t)
	for k := 1; k <= 90; k++ {
		now := t0.Add(time.Duration(k) * 40 * time.Second)
		if k%7 == 0 {
			ev := mkjob(int64(100+k), "1").Project(string(rune('a'+k%3)), "p").Submit(now).Ev()
			a.Apply(ev)
			b.Apply(ev)
		}
		if k == 60 {
			for _, e := range []*Engine{a, b} {
				e.Apply(Ended{ID: 1, State: core.StateCompleted, At: now})
			}
		}
		for id := core.JobID(1); id < 200; id++ {
			b.ExplainAt(id, now)
		}
		ia, _ := a.Step(now)
		ib, _ := b.Step(now)
		if diff := cmp.Diff(starts(ia), starts(ib)); diff != "" {
			t.Fatalf("step %d: starts differ once Explain is asked (-plain +explained):\n%s", k, diff)
		}
		for id, nodes := range starts(ia) {
			for _, e := range []*Engine{a, b} {
				e.Apply(Started{ID: id, Alloc: core.Allocation{Site: "s", Pool: "gpu", Nodes: nodes}, At: now})
			}
		}
		if diff := cmp.Diff(a.Pending(), b.Pending()); diff != "" {
			t.Fatalf("step %d: queues differ once Explain is asked (-plain +explained):\n%s", k, diff)
		}
	}
}
