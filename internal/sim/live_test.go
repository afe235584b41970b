package sim_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	simdrv "github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sim"
	"github.com/gigafactory/gigafactory/internal/store"
)

// virtualClock is the time the live daemon and its sim drivers read; the
// test moves it.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// placed is where and when a job started.
type placed struct {
	Site, Pool string
	StartS     float64
}

// liveSites: two sites, one with two pools, 8 accelerators a node.
func liveSites() []core.Site {
	pool := func(name string, nodes int) core.Pool {
		return core.Pool{Name: name, Model: "h100", AccelPerNode: 8, Nodes: nodes}
	}
	return []core.Site{
		{ID: "alpha", Kind: core.SiteFactory, Country: "DE", Driver: "sim", State: core.SiteActive, DefaultWalltime: core.Duration(time.Hour),
			Pools: []core.Pool{pool("a1", 2), pool("a2", 1)}},
		{ID: "beta", Kind: core.SiteFactory, Country: "FR", Driver: "sim", State: core.SiteActive, DefaultWalltime: core.Duration(time.Hour),
			Pools: []core.Pool{pool("b1", 2)}},
	}
}

// liveWorkload: jobs that all arrive at 0 and outnumber the network, so
// that the queue, the broker and backfill decide; runs of whole multiples
// of the test's step, all well under the broker's re-routing slip (2 h).
func liveWorkload() []sim.Arrival {
	sizes := []int{8, 16, 4, 8, 2, 16, 8, 1, 24, 4, 8, 2}
	mins := []int{20, 30, 10, 25, 15, 10, 5, 30, 15, 20, 10, 5}
	var out []sim.Arrival
	for i := range sizes {
		out = append(out, sim.Arrival{Milli: core.Milli(sizes[i] * 1000), Duration: time.Duration(mins[i]) * time.Minute,
			Walltime: time.Hour, Tenant: fmt.Sprintf("p%d", i%3), Model: "h100"})
	}
	return out
}

// The twin runs what `gf serve` runs: the same workload through the live
// daemon (store, broker and engine, sim drivers, a virtual clock moved in
// steps of 5 minutes) and through sim.Replay with the live policy gives
// the same placements (site and pool) and the same start times, exactly:
// every run lasts a whole number of steps and every job arrives at 0, so
// each event the daemon sees happens at a step, and the daemon notices it
// at that very virtual time, where the twin applies it.
func TestTwinMatchesLiveDaemon(t *testing.T) {
	sites := liveSites()
	work := liveWorkload()

	twin := map[core.JobID]placed{}
	res, err := sim.Replay(sim.ReplayConfig{Policy: sim.PolicyLive, Sites: sites, Jobs: sim.NewSliceStream(work),
		OnStart: func(id core.JobID, at time.Duration, a *core.Allocation) {
			twin[id] = placed{a.Site, a.Pool, at.Seconds()}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != len(work) {
		t.Fatalf("twin: %d of %d jobs completed", res.Completed, len(work))
	}

	live := runLive(t, sites, work, 5*time.Minute)
	if diff := cmp.Diff(twin, live); diff != "" {
		t.Errorf("twin vs live daemon (-twin +live):\n%s", diff)
	}
	used := map[string]bool{}
	for _, p := range twin {
		used[p.Site+"/"+p.Pool] = true
	}
	if len(used) < 3 {
		t.Errorf("the workload used only %v: it must exercise the broker across sites and pools", used)
	}
}

// runLive runs work through a live daemon with sim drivers on a virtual
// clock moved by step until every job ended, and returns where and when
// each started.
func runLive(t *testing.T, sites []core.Site, work []sim.Arrival, step time.Duration) map[core.JobID]placed {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := &virtualClock{now: sim.Epoch}
	drivers := map[string]driver.Driver{}
	for _, s := range sites {
		drivers[s.ID] = simdrv.New(clock.Now)
	}
	d, err := daemon.New(daemon.Options{Store: st, Sites: sites, Drivers: drivers, Engine: engine.DefaultConfig(), Routing: engine.LiveRouting(),
		Clock: clock.Now, PollEvery: 2 * time.Millisecond, StepGap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	var jobs []core.Job
	for _, a := range work {
		jobs = append(jobs, core.Job{Project: a.Tenant, Org: a.Tenant, User: a.Tenant, SubmitTime: sim.Epoch, Spec: core.JobSpec{
			Command: []string{"true"}, Accelerators: a.Milli, Model: a.Model, QoS: core.QoSNormal, Walltime: core.Duration(a.Walltime),
			Env: map[string]string{simdrv.EnvDuration: a.Duration.String()}}})
	}
	if _, _, err := d.Submit(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	var last string
	for now := sim.Epoch; now.Sub(sim.Epoch) <= 24*time.Hour; now = now.Add(step) {
		clock.set(now)
		last = settle(t, d, st)
		if !strings.Contains(last, "pending") && !strings.Contains(last, "starting") && !strings.Contains(last, "running") {
			break
		}
	}
	out := map[core.JobID]placed{}
	list, _, err := st.ListJobs(ctx, store.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range list {
		if j.State != core.StateCompleted || j.Alloc == nil || j.StartTime == nil {
			t.Fatalf("live: job %d ended %s (%s); all: %s", j.ID, j.State, j.Reason, last)
		}
		out[j.ID] = placed{j.Alloc.Site, j.Alloc.Pool, j.StartTime.Sub(sim.Epoch).Seconds()}
	}
	return out
}

// settle lets the daemon act at the clock's time: it forces a scheduling
// turn, then waits until the jobs' states stay the same over several
// driver polls, and returns them.
func settle(t *testing.T, d *daemon.Daemon, st *store.DB) string {
	t.Helper()
	ctx := context.Background()
	prev := ""
	for stable := 0; stable < 3; {
		if _, err := d.Usage(ctx); err != nil { // a call: the loop steps after it
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		list, _, err := st.ListJobs(ctx, store.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, j := range list {
			fmt.Fprintf(&b, "%d:%s ", j.ID, j.State)
		}
		if s := b.String(); s == prev {
			stable++
		} else {
			prev, stable = s, 0
		}
	}
	return prev
}
