package broker_test

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// TestFeasible checks, over the built-in EU network, which requests no
// site could ever run, the filter of the nearest miss, and that the
// reason names what was asked and what exists.
func TestFeasible(t *testing.T) {
	cases := map[string]struct {
		job    *core.Job
		filter string   // "" = feasible
		reason []string // substrings of the reason
	}{
		"an H100 job":       {job: job(8, "NVIDIA H100").obj()},
		"any model":         {job: job(1, "").obj()},
		"one of two models": {job: job(8, "NVIDIA B300|NVIDIA H100").obj()},
		"zero accelerators where no pool declares CPUs": {job: job(0, "").obj(), filter: broker.FilterSize,
			reason: []string{"a job without accelerators (1 CPUs per node): no site has a pool with CPUs for it; no pool declares its CPUs"}},
		"a constraint on the model": {job: job(8, "").constraint("mi250x").obj()},
		"an unknown feature": {job: job(8, "").constraint("mi250x&nvme").obj(), filter: broker.FilterConstraint,
			reason: []string{`constraint "mi250x&nvme": unknown feature nvme; features there: none; and any word of the models: `, "AMD Instinct MI250X"}},
		"a feature count": {job: job(8, "").constraint("mi250x*2").obj(), filter: broker.FilterConstraint,
			reason: []string{"feature counts (mi250x*N) are not supported"}},
		"the whole of a gigafactory train pool": {job: job(80000, "NVIDIA GB200").obj()},
		"a week at a gigafactory":               {job: job(8, "").wall(168 * time.Hour).obj()},
		"pinned and fitting":                    {job: job(4, "NVIDIA GH200").pin("jaif").obj()},
		"residency EU27":                        {job: job(8, "").res(broker.EU27...).obj()},
		"unknown model": {job: job(8, "NVIDIA B300").obj(), filter: broker.FilterModel,
			reason: []string{`model "NVIDIA B300": no site has it; models: `, "NVIDIA H100", "AMD Instinct MI250X"}},
		"residency nowhere": {job: job(8, "").res("US").obj(), filter: broker.FilterResidency,
			reason: []string{"residency US: no site with compute is in those countries; sites are in AT, ", "SE"}},
		"residency with only antennas": {job: job(8, "").res("BE", "IE").obj(), filter: broker.FilterCompute,
			reason: []string{"no site in BE, IE has compute: antenna-be, antenna-ie are access points"}},
		"model not in the allowed countries": {job: job(8, "NVIDIA GB200").res("SE").obj(), filter: broker.FilterModel,
			reason: []string{`model "NVIDIA GB200": no site in SE has it; models there: NVIDIA H100`}},
		"more accelerators than any pool": {job: job(200000, "").obj(), filter: broker.FilterSize,
			reason: []string{"200000 accelerators: no site has a pool that holds it; the largest holds 100000 accelerators (gf-fr, as one gang across its pools)", "8 accelerators per node"}},
		"more per node than any node": {job: job(16, "").nodes(1, 16).obj(), filter: broker.FilterSize,
			reason: []string{"16 accelerators on one node: no site has a pool", "8 accelerators per node"}},
		"a node shape past every node": {job: job(8, "").nodes(0, 16).obj(), filter: broker.FilterSize,
			reason: []string{"8 accelerators, 16 per node: no site has a pool"}},
		"more nodes than any pool": {job: job(30000*4, "NVIDIA GB200").nodes(30000, 4).obj(), filter: broker.FilterSize,
			reason: []string{`120000 accelerators on 30000 nodes: no site has a pool of model "NVIDIA GB200"`, "at most 20000 nodes and 4 accelerators per node"}},
		"a GH200 job too large for one node": {job: job(8, "NVIDIA GH200").nodes(1, 0).obj(), filter: broker.FilterSize,
			reason: []string{"8 accelerators on one node", "4 accelerators per node"}},
		"walltime over every maximum": {job: job(8, "").wall(400 * time.Hour).obj(), filter: broker.FilterWalltime,
			reason: []string{"walltime 400h0m0s: over the maximum of every site that could hold the job; the longest is 168h0m0s"}},
		"walltime over the factories' maximum in SE": {job: job(8, "").res("SE").wall(100 * time.Hour).obj(), filter: broker.FilterWalltime,
			reason: []string{"walltime 100h0m0s: over the maximum of every site in SE", "48h0m0s (mimer)"}},
		"pinned to a site without the model": {job: job(8, "NVIDIA GB200").pin("jaif").obj(), filter: broker.FilterModel,
			reason: []string{`model "NVIDIA GB200": site jaif has NVIDIA GH200`}},
		"pinned to a site outside the residency": {job: job(8, "").pin("jaif").res("FR").obj(), filter: broker.FilterResidency,
			reason: []string{"residency FR: site jaif is in DE"}},
		"pinned to an antenna": {job: job(1, "").pin("antenna-be").obj(), filter: broker.FilterCompute,
			reason: []string{"site antenna-be has no compute"}},
		"pinned, over the site's walltime": {job: job(8, "").pin("jaif").wall(49 * time.Hour).obj(), filter: broker.FilterWalltime,
			reason: []string{"walltime 49h0m0s: over the maximum of site jaif, 48h0m0s"}},
		"pinned, too large for the site": {job: job(30000, "").pin("jaif").obj(), filter: broker.FilterSize,
			reason: []string{"30000 accelerators: site jaif has no pool that holds it; the largest holds 24000 accelerators (jaif)"}},
	}
	sites := config.EU().Sites
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := broker.Feasible(sites, &c.job.Spec)
			if c.filter == "" {
				if got != nil {
					t.Fatalf("refused (%s): %s", got.Filter, got.Reason)
				}
				return
			}
			if got == nil {
				t.Fatalf("accepted; want refused by %s", c.filter)
			}
			if got.Filter != c.filter {
				t.Errorf("filter %q, want %q (reason %s)", got.Filter, c.filter, got.Reason)
			}
			for _, r := range c.reason {
				if !strings.Contains(got.Reason, r) {
					t.Errorf("reason %q lacks %q", got.Reason, r)
				}
			}
			if len(got.Sites) != len(sites) {
				t.Errorf("%d verdicts, want one per site (%d)", len(got.Sites), len(sites))
			}
		})
	}
}

// TestFeasibleIgnoresState: a draining or down site may come back, so a
// job only it could run is still feasible, and Feasible leaves the
// caller's sites as they were.
func TestFeasibleIgnoresState(t *testing.T) {
	sites := config.EU().Sites
	for i := range sites {
		if sites[i].ID == "jaif" {
			sites[i].State = core.SiteDown
		} else if sites[i].ID == "pharos" {
			sites[i].State = core.SiteDraining
		}
	}
	sp := job(4, "NVIDIA GH200").obj().Spec
	if got := broker.Feasible(sites, &sp); got != nil {
		t.Fatalf("refused (%s): %s", got.Filter, got.Reason)
	}
	for _, s := range sites {
		if s.ID == "jaif" && s.State != core.SiteDown {
			t.Errorf("Feasible changed the caller's site jaif to %q", s.State)
		}
	}
	if got := broker.Feasible(nil, &sp); got == nil || !strings.Contains(got.Reason, "no sites") {
		t.Errorf("no sites: got %+v, want a refusal saying there are no sites", got)
	}
}

// TestFeasibleCPUs checks CPU-only jobs, CPUs and memory per node and
// constraints against a site with a GPU pool and a CPU pool.
func TestFeasibleCPUs(t *testing.T) {
	sites := []core.Site{{ID: "lumi", Kind: core.SiteFactory, Country: "FI", State: core.SiteActive, Pools: []core.Pool{
		{Name: "standard-g", Model: "AMD Instinct MI250X", AccelPerNode: 8, Nodes: 10, CPUsPerNode: 56, MemMiBPerNode: 480 << 10, Features: []string{"ib"}},
		{Name: "standard", Model: "AMD EPYC 7763", Nodes: 10, CPUsPerNode: 128, MemMiBPerNode: 224 << 10, Features: []string{"ib", "lumic"}},
	}}}
	cases := map[string]struct {
		spec   core.JobSpec
		filter string
		reason string
	}{
		"cpu-only":                   {spec: core.JobSpec{Nodes: 2, TasksPerNode: 128}},
		"cpu-only on a lumic node":   {spec: core.JobSpec{CPUsPerTask: 16, Constraint: "lumic"}},
		"gpu job with cpus per task": {spec: core.JobSpec{Accelerators: 8000, TasksPerNode: 8, CPUsPerTask: 7}},
		"gpu job with too many cpus": {spec: core.JobSpec{Accelerators: 8000, TasksPerNode: 8, CPUsPerTask: 8}, filter: broker.FilterSize},
		"cpu-only with too many cpus": {spec: core.JobSpec{TasksPerNode: 256}, filter: broker.FilterSize,
			reason: "the largest node has 128 CPUs"},
		"cpu-only with too much memory per cpu": {spec: core.JobSpec{CPUsPerTask: 128, MemMiBPerCPU: 4096}, filter: broker.FilterSize},
		"gpus never on the cpu pool": {spec: core.JobSpec{Accelerators: 1000, Constraint: "lumic"}, filter: broker.FilterConstraint,
			reason: "no pool has that combination of features; features there: ib, lumic"},
		"unknown feature": {spec: core.JobSpec{Constraint: "[ib|hbm]"}, filter: broker.FilterConstraint,
			reason: "unknown feature hbm; features there: ib, lumic; and any word of the models: AMD EPYC 7763, AMD Instinct MI250X"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := broker.Feasible(sites, &c.spec)
			if c.filter == "" {
				if got != nil {
					t.Fatalf("refused (%s): %s", got.Filter, got.Reason)
				}
				return
			}
			if got == nil || got.Filter != c.filter || !strings.Contains(got.Reason, c.reason) {
				t.Fatalf("got %+v, want refused by %s with %q", got, c.filter, c.reason)
			}
		})
	}
}

// One Feasibility serves concurrent requests (the API keeps one while the
// sites stay the same): checks from several goroutines give what a fresh
// Feasible gives, accepted and refused alike. Run with -race.
func TestFeasibilitySharedMatchesFeasible(t *testing.T) {
	sites := config.EU().Sites
	specs := []core.JobSpec{
		job(8, "NVIDIA H100").obj().Spec,
		job(8, "NVIDIA B300").obj().Spec,
		job(200000, "").obj().Spec,
		job(8, "").constraint("mi250x&nvme").obj().Spec,
		job(8, "").res("SE").wall(100 * time.Hour).obj().Spec,
		job(30000, "").pin("jaif").obj().Spec,
		job(0, "").obj().Spec,
	}
	want := make([]*broker.Infeasible, len(specs))
	for i := range specs {
		want[i] = broker.Feasible(sites, &specs[i])
	}
	if want[0] != nil || want[1] == nil {
		t.Fatalf("the cases do not mix accepted and refused jobs: %v, %v", want[0], want[1])
	}
	f := broker.NewFeasibility(sites)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				for i := range specs {
					sp := specs[i]
					if got := f.Check(&sp); !reflect.DeepEqual(got, want[i]) {
						t.Errorf("spec %d: shared Check = %+v, Feasible = %+v", i, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
