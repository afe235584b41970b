package engine

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestWarmChangesNothing runs the same random workload through two
// engines, one of which is asked to Warm every batch of ends and
// arrivals (including unknown ids) before applying it, and checks that
// their intents and every job's status agree throughout.
func TestWarmChangesNothing(t *testing.T) {
	sites := []core.Site{site("a", pool("gpu", 6, 8), pool("big", 2, 4))}
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		engs := []*Engine{New(DefaultConfig(), sites), New(DefaultConfig(), sites)}
		running := map[core.JobID]time.Time{}
		var log [2][]string
		now := t0
		next := core.JobID(1)
		warmed := 0
		for step := 0; step < 400; step++ {
			now = now.Add(time.Duration(1+rng.IntN(600)) * time.Second)
			var ended []core.JobID
			for id, end := range running {
				if !end.After(now) {
					ended = append(ended, id)
				}
			}
			var subs []core.Job
			for k := rng.IntN(6); k > 0; k-- {
				accels := []string{"0.5", "1", "2", "4", "8", "16"}[rng.IntN(6)]
				subs = append(subs, mkjob(int64(next), accels).Walltime(time.Duration(1+rng.IntN(4))*time.Hour).Submit(now).j)
				next++
			}
			for i, e := range engs {
				if i == 1 {
					ids := append(append([]core.JobID{}, ended...), next+1000)
					for _, j := range subs {
						ids = append(ids, j.ID)
					}
					if e.Warm(ids) != 0 {
						warmed++
					}
				}
				for _, id := range ended {
					e.Apply(Ended{ID: id, State: core.StateCompleted, At: now})
				}
				for _, j := range subs {
					e.Apply(Submitted{Job: j})
				}
				in, _ := e.Step(now)
				st := starts(in)
				for _, id := range slices.Sorted(maps.Keys(st)) {
					nodes := st[id]
					log[i] = append(log[i], fmt.Sprintf("%v start %d %v", now.Sub(t0), id, nodes))
					var pl string
					for _, x := range in {
						if s, ok := x.(Start); ok && s.ID == id {
							pl = s.Alloc.Pool
						}
					}
					e.Apply(Started{ID: id, Alloc: core.Allocation{Site: "a", Pool: pl, Nodes: nodes}, At: now})
					if i == 0 {
						running[id] = now.Add(time.Duration(1+rng.IntN(7200)) * time.Second)
					}
				}
			}
			for _, id := range ended {
				delete(running, id)
			}
			from := core.JobID(1) // every job now and then, else the recent ones
			if step%50 != 49 {
				from = max(1, next-40)
			}
			for id := from; id < next; id++ {
				a, okA := engs[0].Status(id)
				b, okB := engs[1].Status(id)
				if okA != okB {
					t.Fatalf("seed %d step %d job %d: known %v and %v", seed, step, id, okA, okB)
				}
				if diff := cmp.Diff(a, b); diff != "" {
					t.Fatalf("seed %d step %d job %d: status differs after Warm:\n%s", seed, step, id, diff)
				}
			}
		}
		if diff := cmp.Diff(log[0], log[1]); diff != "" {
			t.Fatalf("seed %d: starts differ after Warm:\n%s", seed, diff)
		}
		if len(log[0]) < 100 || warmed == 0 {
			t.Fatalf("seed %d: %d starts, %d batches warmed: the test lost its point", seed, len(log[0]), warmed)
		}
	}
}
