package engine_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

var day0 = time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)

// euSites is the EU network's sites, checking that site id has the
// given pools (name: accelerators).
func euSites(t *testing.T, id string, pools map[string]int) []core.Site {
	t.Helper()
	sites := config.EU().Sites
	for _, s := range sites {
		if s.ID != id {
			continue
		}
		got := map[string]int{}
		for _, p := range s.Pools {
			got[p.Name] = p.Nodes * p.AccelPerNode
		}
		if !maps.Equal(got, pools) {
			t.Fatalf("%s has pools %v, want %v", id, got, pools)
		}
		return sites
	}
	t.Fatalf("the EU network has no %s", id)
	return nil
}

func gang(id core.JobID, accels int, model string) engine.Submitted {
	return gangAt("gf-fr", id, accels, model)
}

func gangAt(site string, id core.JobID, accels int, model string) engine.Submitted {
	return engine.Submitted{Job: core.Job{ID: id, User: "u", Project: "moon", Org: "o", State: core.StatePending, SubmitTime: day0,
		Spec: core.JobSpec{Command: []string{"train"}, Accelerators: core.Milli(accels) * 1000, Model: model, Site: site, Walltime: core.Duration(24 * time.Hour)}}}
}

func startsOf(in []engine.Intent) map[core.JobID]core.Allocation {
	out := map[core.JobID]core.Allocation{}
	for _, it := range in {
		if s, ok := it.(engine.Start); ok {
			out[s.ID] = s.Alloc
		}
	}
	return out
}

// TestWholeSiteGangOnGfFr is issue 17's scenario: a 100,000-accelerator
// gang runs on gf-fr. gf-fr is modelled as two GB200 NVL72 halls of
// 50,000 (pools train-a and train-b, config/eu/README.md), so the gang
// spans both, every node of the site, once the jobs running there have
// ended: not before, with the virtual clock. The other gigafactories are
// 80,000 GB200 and 20,000 B200, and a gang never mixes models: there the
// most one gang can take is the 80,000 GB200, and 100,000 never starts,
// with the reason.
func TestWholeSiteGangOnGfFr(t *testing.T) {
	t.Run("two models never mix", func(t *testing.T) {
		e := engine.New(engine.DefaultConfig(), euSites(t, "gf-de", map[string]int{"train": 80_000, "serve": 20_000}))
		e.Apply(gangAt("gf-de", 1, 80_000, "NVIDIA GB200"))
		e.Apply(gangAt("gf-de", 2, 100_000, ""))
		got := startsOf(func() []engine.Intent { in, _ := e.Step(day0); return in }())
		a, ok := got[1]
		if !ok || a.Site != "gf-de" || a.Pool != "train" || len(a.Nodes) != 20_000 || a.Accelerators() != 80_000_000 {
			t.Fatalf("80,000 GB200: started %v on %s/%s, %d nodes; want every node of gf-de's train pool", ok, a.Site, a.Pool, len(a.Nodes))
		}
		if _, ok := got[2]; ok {
			t.Fatal("100,000 of two models started as one gang")
		}
		st, _ := e.Status(2)
		if want := "at most 80000 of one model and node size at one site"; !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q, want it to say %q", st.Reason, want)
		}
	})
	t.Run("gf-fr, two halls of one model", func(t *testing.T) {
		sites := euSites(t, "gf-fr", map[string]int{"train-a": 50_000, "train-b": 50_000})
		e := engine.New(engine.DefaultConfig(), sites)
		// Two jobs hold gf-fr for an hour: one in each pool.
		for id, n := range map[core.JobID]int{10: 72, 11: 19_000} {
			s := gang(id, n, "NVIDIA GB200")
			s.Job.Spec.Walltime = core.Duration(time.Hour)
			e.Apply(s)
		}
		in, _ := e.Step(day0)
		busy := startsOf(in)
		if len(busy) != 2 {
			t.Fatalf("started %d of the two jobs holding gf-fr", len(busy))
		}
		e.Apply(gang(1, 100_000, "NVIDIA GB200"))
		at := day0.Add(time.Minute)
		in, _ = e.Step(at)
		if _, ok := startsOf(in)[1]; ok {
			t.Fatal("the whole-site gang started while the site was busy")
		}
		if st, _ := e.Status(1); !strings.Contains(st.Reason, "waiting for 100000 accelerators") {
			t.Errorf("waiting with reason %q, want it waiting for resources", st.Reason)
		}
		end := day0.Add(time.Hour)
		for id := range busy {
			e.Apply(engine.Ended{ID: id, State: core.StateCompleted, At: end})
		}
		in, _ = e.Step(end)
		a, ok := startsOf(in)[1]
		if !ok {
			st, _ := e.Status(1)
			t.Fatalf("the whole-site gang did not start on the empty site: %s", st.Reason)
		}
		if a.Site != "gf-fr" || a.Pool != "train-a,train-b" || len(a.Nodes) != 25_000 || a.Accelerators() != 100_000_000 {
			t.Fatalf("started on %s/%q, %d nodes, %s accelerators; want gf-fr train-a,train-b, 25,000 nodes", a.Site, a.Pool, len(a.Nodes), a.Accelerators())
		}
		seen := map[string]bool{}
		for _, na := range a.Nodes {
			if seen[na.Node] || !slices.Contains(a.Pools(), core.NodePool(na.Node)) || len(na.Accels) != 4 {
				t.Fatalf("node %s: twice, outside the allocation's pools, or not whole (%v)", na.Node, na.Accels)
			}
			seen[na.Node] = true
		}
		// The shell confirms the start: the engine keeps the placement.
		e.Apply(engine.Started{ID: 1, Alloc: a, At: end})
		if st, _ := e.Status(1); st.State != core.StateRunning {
			t.Errorf("after Started, state %s, want running", st.State)
		}
		// A job of one accelerator waits: nothing of GB200 is left.
		e.Apply(gang(20, 1, "NVIDIA GB200"))
		in, _ = e.Step(end.Add(time.Minute))
		if _, ok := startsOf(in)[20]; ok {
			t.Error("a job started on a GB200 node the whole-site gang holds")
		}
		// A restarted engine reloads the running gang from its allocation.
		e2 := engine.New(engine.DefaultConfig(), sites)
		e2.Apply(engine.Started{ID: 1, Alloc: a, At: end})
		e2.Apply(gang(20, 1, "NVIDIA GB200"))
		in, _ = e2.Step(end.Add(time.Minute))
		if _, ok := startsOf(in)[20]; ok {
			t.Error("after a restart, a job started on a node the whole-site gang holds")
		}
	})
}
