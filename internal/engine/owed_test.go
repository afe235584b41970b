package engine

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// TestOwedFairShare: with a fair-share weight of 0 the engine charges the
// fair tree only when a breakdown reads it; the ranks a breakdown shows
// are those of an engine that charges the tree at every start and end.
func TestOwedFairShare(t *testing.T) {
	sites := []core.Site{site("a", pool("gpu", 16, 8))}
	lazy := New(Config{}, sites) // fifo: the order does not read the tree
	eager := New(Config{Priority: sched.PriorityConfig{FairShareWeight: 1}}, sites)
	if lazy.rankFair() || !eager.rankFair() {
		t.Fatal("the configurations do not test what they should")
	}
	orgs := []string{"a", "b", "c", "d", "e", "f"}
	now := t0
	running := map[core.JobID]time.Time{}
	var id int64
	for round := range 40 {
		for k := range 3 {
			id++
			o := orgs[(round*3+k*5)%len(orgs)]
			size := []string{"1", "2", "4", "8"}[(round+k)%4]
			ev := Submitted{Job: mkjob(id, size).Project(o, "p").Submit(now).j}
			lazy.Apply(ev)
			eager.Apply(ev)
		}
		for _, e := range []*Engine{lazy, eager} {
			in, _ := e.Step(now)
			for sid, nodes := range starts(in) {
				e.Apply(Started{ID: sid, Alloc: core.Allocation{Site: "a", Pool: "gpu", Nodes: nodes}, At: now})
				running[sid] = now.Add(time.Duration(int(sid)%7+1) * 17 * time.Minute)
			}
		}
		for jid := core.JobID(1); jid <= core.JobID(id); jid++ {
			want, ok1 := eager.Explain(jid)
			got, ok2 := lazy.Explain(jid)
			if ok1 != ok2 {
				t.Fatalf("round %d: job %d known to one engine only", round, jid)
			}
			if !ok1 {
				continue
			}
			if got.Factors[1].Value != want.Factors[1].Value || got.Factors[1].Note != want.Factors[1].Note {
				t.Fatalf("round %d: job %d fair share %v (%s), want %v (%s)", round, jid,
					got.Factors[1].Value, got.Factors[1].Note, want.Factors[1].Value, want.Factors[1].Note)
			}
		}
		now = now.Add(10 * time.Minute)
		for jid, end := range running {
			if !end.After(now) {
				for _, e := range []*Engine{lazy, eager} {
					e.Apply(Ended{ID: jid, State: core.StateCompleted, At: end})
				}
				delete(running, jid)
			}
		}
	}
}
