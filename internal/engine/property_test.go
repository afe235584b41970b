package engine

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// The property tests drive the engine with a small discrete-event loop
// in virtual time: jobs arrive, Step decides, each started job runs for a
// random part of its walltime, preempted jobs stop after their grace.

type simEvent struct {
	at   time.Time
	seq  int
	kind int // 0 submit, 1 end, 2 preempted
	job  core.Job
	id   core.JobID
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(a, b int) bool {
	if !q[a].at.Equal(q[b].at) {
		return q[a].at.Before(q[b].at)
	}
	return q[a].seq < q[b].seq
}
func (q simQueue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	o := *q
	x := o[len(o)-1]
	*q = o[:len(o)-1]
	return x
}

// sim records what happened for the invariants.
type sim struct {
	t        *testing.T
	e        *Engine
	rng      *rand.Rand
	q        simQueue
	seq      int
	log      []string
	jobs     map[core.JobID]core.Job
	running  map[core.JobID]core.Allocation
	started  map[core.JobID]time.Time
	ends     map[core.JobID]time.Time // scheduled end of the current run
	reserved map[core.JobID]time.Time // first reservation time seen
	k        map[string]int           // accelerators per node, by pool
	used     map[string]core.Milli    // "site/node/dev" -> milli held
	accelSec map[string]float64       // by org
	horizon  time.Time
	preempts map[core.JobID]time.Time // first preemption made for a job
	// preStart is a job's first start after its first preemption: under
	// LAS a job may start, be preempted in turn and start again later.
	preStart map[core.JobID]time.Time
	runFrac  func() float64
	onStart  func(id core.JobID, now time.Time)
	// afterStep, when set, runs after each Step's intents are carried out.
	afterStep func(now time.Time)
}

func newSim(t *testing.T, cfg Config, sites []core.Site, seed uint64) *sim {
	s := &sim{t: t, e: New(cfg, sites), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		jobs: map[core.JobID]core.Job{}, running: map[core.JobID]core.Allocation{}, started: map[core.JobID]time.Time{},
		ends: map[core.JobID]time.Time{}, reserved: map[core.JobID]time.Time{}, k: map[string]int{},
		used: map[string]core.Milli{}, accelSec: map[string]float64{}, preempts: map[core.JobID]time.Time{}, preStart: map[core.JobID]time.Time{}}
	for _, st := range sites {
		for _, p := range st.Pools {
			s.k[st.ID+"/"+p.Name] = p.AccelPerNode
		}
	}
	s.runFrac = func() float64 { return 0.2 + 0.8*s.rng.Float64() }
	return s
}

func (s *sim) push(ev simEvent) {
	s.seq++
	ev.seq = s.seq
	heap.Push(&s.q, ev)
}

func (s *sim) submit(j core.Job) { s.push(simEvent{at: j.SubmitTime, kind: 0, job: j}) }

// run plays events until the queue is empty or the horizon.
func (s *sim) run() {
	var wake time.Time
	for s.q.Len() > 0 || !wake.IsZero() {
		var now time.Time
		if s.q.Len() > 0 {
			now = s.q[0].at
		}
		if !wake.IsZero() && (now.IsZero() || wake.Before(now)) {
			now = wake
		}
		if !s.horizon.IsZero() && now.After(s.horizon) {
			return
		}
		for s.q.Len() > 0 && !s.q[0].at.After(now) {
			ev := heap.Pop(&s.q).(simEvent)
			switch ev.kind {
			case 0:
				s.jobs[ev.job.ID] = ev.job
				s.e.Apply(Submitted{Job: ev.job})
			case 1, 2:
				if end, ok := s.ends[ev.id]; !ok || !end.Equal(ev.at) {
					continue // a stale end: the run was preempted
				}
				s.stop(ev.id, ev.at)
				s.e.Apply(Ended{ID: ev.id, State: core.StateCompleted, At: ev.at, Requeue: ev.kind == 2})
			}
		}
		in, next := s.e.Step(now)
		s.intents(in, now)
		s.observe(now)
		if s.afterStep != nil {
			s.afterStep(now)
		}
		wake = next
	}
}

func (s *sim) stop(id core.JobID, now time.Time) {
	a := s.running[id]
	for _, n := range a.Nodes {
		for _, d := range n.Accels {
			key := fmt.Sprintf("%s/%s/%d", a.Site, n.Node, d)
			if n.Milli > 0 {
				s.used[key] -= n.Milli
			} else {
				s.used[key] -= 1000
			}
		}
	}
	s.accelSec[s.jobs[id].Org] += float64(a.Accelerators()) / 1000 * now.Sub(s.started[id]).Seconds()
	delete(s.running, id)
	delete(s.ends, id)
}

func (s *sim) intents(in []Intent, now time.Time) {
	for _, x := range in {
		switch x := x.(type) {
		case Start:
			j := s.jobs[x.ID]
			s.log = append(s.log, fmt.Sprintf("%s start %d %v", now.Format(time.TimeOnly), x.ID, x.Alloc))
			if _, ok := s.running[x.ID]; ok {
				s.t.Fatalf("job %d started twice", x.ID)
			}
			s.checkGang(j, x.Alloc)
			for _, n := range x.Alloc.Nodes {
				for _, d := range n.Accels {
					key := fmt.Sprintf("%s/%s/%d", x.Alloc.Site, n.Node, d)
					add := core.Milli(1000)
					if n.Milli > 0 {
						add = n.Milli
					}
					s.used[key] += add
					if s.used[key] > 1000 {
						s.t.Fatalf("over-allocation at %s: device %s holds %s accelerators after job %d", now, key, s.used[key], x.ID)
					}
				}
			}
			s.running[x.ID] = x.Alloc
			s.started[x.ID] = now
			if _, ok := s.preempts[x.ID]; ok {
				if _, ok := s.preStart[x.ID]; !ok {
					s.preStart[x.ID] = now
				}
			}
			if s.onStart != nil {
				s.onStart(x.ID, now)
			}
			wall := time.Duration(j.Spec.Walltime)
			end := now.Add(time.Duration(float64(wall) * s.runFrac()).Truncate(time.Second))
			s.ends[x.ID] = end
			s.push(simEvent{at: end, kind: 1, id: x.ID})
		case Preempt:
			s.log = append(s.log, fmt.Sprintf("%s preempt %d for %d", now.Format(time.TimeOnly), x.ID, x.For))
			if _, ok := s.running[x.ID]; !ok {
				s.t.Fatalf("preempt of job %d that does not run", x.ID)
			}
			if _, ok := s.preempts[x.For]; !ok {
				s.preempts[x.For] = now
			}
			end := now.Add(x.Grace)
			s.ends[x.ID] = end
			s.push(simEvent{at: end, kind: 2, id: x.ID})
		}
	}
}

// checkGang asserts all-or-nothing: one Start holds the whole request,
// multi-node jobs on whole nodes of one pool, devices distinct.
func (s *sim) checkGang(j core.Job, a core.Allocation) {
	k := s.k[a.Site+"/"+a.Pool]
	want := j.Spec.Accelerators
	got := a.Accelerators()
	if want > core.Milli(k)*1000 {
		nodes := (want.Whole() + k - 1) / k
		if len(a.Nodes) != nodes {
			s.t.Fatalf("job %d (%s accelerators) got %d nodes of %d, want %d", j.ID, want, len(a.Nodes), k, nodes)
		}
		for _, n := range a.Nodes {
			if len(n.Accels) != k || n.Milli != 0 {
				s.t.Fatalf("job %d: multi-node share %v is not a whole node", j.ID, n)
			}
		}
		return
	}
	if len(a.Nodes) != 1 || got != want && !(want < 1000 && got == want) {
		s.t.Fatalf("job %d (%s) got %v (%s)", j.ID, want, a, got)
	}
}

// observe records the first reservation each pending job gets.
func (s *sim) observe(now time.Time) {
	for _, st := range s.e.Pending() {
		if st.EstimatedStart == nil {
			continue
		}
		for _, r := range st.Reasons {
			if strings.HasPrefix(r, "reserved:") {
				if _, ok := s.reserved[st.ID]; !ok {
					s.reserved[st.ID] = *st.EstimatedStart
				}
			}
		}
	}
}

// workload is a seeded mix of job shapes on a two-site network.
func workload(seed uint64, n int) ([]core.Site, []core.Job) {
	rng := rand.New(rand.NewPCG(seed, 7))
	sites := []core.Site{
		{ID: "a", Country: "DE", State: core.SiteActive, Pools: []core.Pool{
			{Name: "gpu", Model: "h100", Nodes: 16, AccelPerNode: 8, NodesPerBlock: 4, BlocksPerPod: 2},
		}},
		{ID: "b", Country: "FI", State: core.SiteActive, Pools: []core.Pool{
			{Name: "nvl", Model: "gb200", Nodes: 18, AccelPerNode: 4, NodesPerBlock: 9},
		}},
	}
	sizes := []string{"0.25", "0.5", "1", "1", "1", "1", "2", "4", "8", "16", "32"}
	walls := []time.Duration{10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour}
	qos := []string{core.QoSPlayground, core.QoSNormal, core.QoSNormal, core.QoSFastLane, core.QoSLargeScale}
	topo := []string{"", "", "block", "pod", "any"}
	var jobs []core.Job
	for i := range n {
		m, _ := core.ParseMilli(sizes[rng.IntN(len(sizes))])
		q := qos[rng.IntN(len(qos))]
		j := core.Job{ID: core.JobID(i + 1), Org: fmt.Sprintf("org%d", rng.IntN(3)), Project: fmt.Sprintf("p%d", rng.IntN(4)),
			User: fmt.Sprintf("u%d", rng.IntN(5)), State: core.StatePending,
			SubmitTime: t0.Add(time.Duration(rng.IntN(6*3600)) * time.Second),
			Spec: core.JobSpec{Accelerators: m, Walltime: core.Duration(walls[rng.IntN(len(walls))]), QoS: q,
				Topology: topo[rng.IntN(len(topo))], Preemptible: q == core.QoSPlayground, Checkpointable: rng.IntN(2) == 0}}
		if rng.IntN(5) == 0 {
			j.Spec.Model = "gb200"
		}
		jobs = append(jobs, j)
	}
	return sites, jobs
}

// oneNodeWorkload is a seeded mix of jobs of one node on a small pool of
// nodes of 8 accelerators: EASY reservations of part of a node, with room
// beside them (the shape of issue 12, finding 6).
func oneNodeWorkload(seed uint64, n int) ([]core.Site, []core.Job) {
	rng := rand.New(rand.NewPCG(seed, 8))
	sites := []core.Site{{ID: "a", Country: "DE", State: core.SiteActive, Pools: []core.Pool{
		{Name: "gpu", Model: "h100", Nodes: 1 + rng.IntN(4), AccelPerNode: 8},
	}}}
	sizes := []string{"0.5", "1", "2", "2", "3", "4", "4", "6", "8"}
	var jobs []core.Job
	for i := range n {
		m, _ := core.ParseMilli(sizes[rng.IntN(len(sizes))])
		jobs = append(jobs, core.Job{ID: core.JobID(i + 1), Org: fmt.Sprintf("org%d", rng.IntN(3)), Project: "p", User: "u",
			State: core.StatePending, SubmitTime: t0.Add(time.Duration(rng.IntN(3600)) * time.Second),
			Spec: core.JobSpec{Accelerators: m, Walltime: core.Duration(time.Duration(1+rng.IntN(24)) * 10 * time.Minute)}})
	}
	return sites, jobs
}

func propConfig() Config {
	c := DefaultConfig()
	c.BackfillDepth = 4
	c.PriorityInterval = 5 * time.Minute
	c.Preemption.MinRuntime = 5 * time.Minute
	c.Preemption.Grace = 2 * time.Minute
	return c
}

// TestPropertyInvariants: over random workloads, no device is ever
// over-allocated (checked at every Start), gangs start all at once on
// whole nodes, every job eventually runs, and every pending job has a
// reason.
func TestPropertyInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			sites, jobs := workload(seed, 400)
			s := newSim(t, propConfig(), sites, seed)
			for _, j := range jobs {
				s.submit(j)
			}
			s.run()
			for _, j := range jobs {
				if _, ok := s.started[j.ID]; !ok {
					st, _ := s.e.Status(j.ID)
					t.Errorf("job %d (%s, %s) never started: %v", j.ID, j.Spec.Accelerators, j.Spec.Topology, st.Reasons)
				}
			}
			pre := 0
			for _, l := range s.log {
				if strings.Contains(l, " preempt ") {
					pre++
				}
			}
			t.Logf("%d intents, %d preemptions", len(s.log), pre)
			// Never preempt for a job that could not start: once the
			// victims are gone (at most the grace period), it starts.
			for id, at := range s.preempts {
				if st := s.preStart[id]; st.IsZero() || st.After(at.Add(2*time.Minute)) {
					t.Errorf("job %d preempted others at %s but started at %s", id, at.Format(time.TimeOnly), st.Format(time.TimeOnly))
				}
			}
			if pre == 0 {
				t.Error("no preemption happened: the workload does not exercise it")
			}
			for key, m := range s.used {
				if m != 0 {
					t.Errorf("device %s still holds %s after all jobs ended", key, m)
				}
			}
			for _, p := range s.e.Cluster().Pools {
				if p.Free() != p.Total() {
					t.Errorf("pool %s: %d of %d free after all jobs ended", p.Name, p.Free(), p.Total())
				}
			}
		})
	}
}

// TestPropertyReservationsNotDelayed: with reservations kept (no priority
// recomputation, no preemption), no job starts after the first
// reservation it was given: backfill never delays a reservation, not even
// the jobs it starts beside one that still run at its start. Half the
// jobs run their whole walltime, so that reservations are met to the
// second. After every Step, no pending job could have started (noIdle).
func TestPropertyReservationsNotDelayed(t *testing.T) {
	beside := 0 // jobs started on held nodes that still run at the holder's start
	for seed := uint64(1); seed <= 12; seed++ {
		load, name := workload, "network"
		if seed > 6 {
			load, name = oneNodeWorkload, "one-node jobs"
		}
		t.Run(fmt.Sprint(name, seed), func(t *testing.T) {
			sites, jobs := load(seed, 300)
			cfg := propConfig()
			cfg.PriorityInterval = 1000 * time.Hour
			cfg.Preemption.Enabled = false
			s := newSim(t, cfg, sites, seed)
			s.runFrac = func() float64 {
				if s.rng.IntN(2) == 0 {
					return 1
				}
				return 0.2 + 0.8*s.rng.Float64()
			}
			for _, j := range jobs {
				j.SubmitTime = t0 // all at once, so that no later job outranks a reserved one
				s.submit(j)
			}
			var before []*hold // the holds after the last Step: held throughout this one
			s.onStart = func(id core.JobID, now time.Time) {
				j := s.e.jobs.get(id)
				for _, h := range s.e.holds {
					if slices.Contains(before, h) && h.kind == holdBackfill && h.job != j && h.pool == j.pl.Pool && now.Add(j.wall).After(h.at) &&
						slices.ContainsFunc(j.pl.Nodes, func(n sched.NodeShare) bool { return slices.Contains(h.hs.Nodes, n.Node) }) {
						beside++
					}
				}
			}
			s.afterStep = func(now time.Time) {
				noIdle(t, s.e, now.Format(time.TimeOnly))
				before = slices.Clone(s.e.holds)
			}
			s.run()
			n := 0
			for id, at := range s.reserved {
				n++
				if st, ok := s.started[id]; !ok || st.After(at) {
					t.Errorf("job %d reserved for %s started at %s", id, at.Format(time.TimeOnly), st.Format(time.TimeOnly))
				}
			}
			if n == 0 {
				t.Fatal("no job was ever reserved: the property was not exercised")
			}
		})
	}
	if beside == 0 {
		t.Fatal("no job ever started beside a reservation past its start: the property was not exercised")
	}
	t.Logf("%d jobs started beside a reservation, running past its start", beside)
}

// TestPropertyDeterminism: the same inputs give the same intents.
func TestPropertyDeterminism(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		sites, jobs := workload(seed, 300)
		var logs [2][]string
		for i := range logs {
			s := newSim(t, propConfig(), sites, seed)
			for _, j := range jobs {
				s.submit(j)
			}
			s.run()
			logs[i] = s.log
		}
		if len(logs[0]) == 0 {
			t.Fatal("nothing happened")
		}
		if diff := cmp.Diff(logs[0], logs[1]); diff != "" {
			t.Errorf("seed %d: runs differ (-first +second):\n%s", seed, diff)
		}
	}
}

// TestFairShareConvergence: two organisations with 70/30 shares and
// unlimited demand receive 70/30 +-2% of the accelerator-hours over a
// simulated week.
func TestFairShareConvergence(t *testing.T) {
	cfg := Config{
		BackfillDepth:    4,
		PriorityInterval: 5 * time.Minute,
		Priority:         sched.PriorityConfig{FairShareWeight: 10000, AgeWeight: 1},
		FairShare: sched.FairShareConfig{
			HalfLife:  24 * time.Hour,
			OrgKind:   map[string]string{"big": core.OrgIndustry, "small": core.OrgIndustry},
			OrgShares: map[string]float64{"big": 70, "small": 30},
		},
	}
	sites := []core.Site{{ID: "s", Country: "DE", State: core.SiteActive, Pools: []core.Pool{{Name: "gpu", Model: "h100", Nodes: 16, AccelPerNode: 8, NodesPerBlock: 8}}}}
	s := newSim(t, cfg, sites, 42)
	week := t0.Add(7 * 24 * time.Hour)
	s.horizon = week
	next := core.JobID(0)
	sizes := []string{"1", "1", "2", "4", "8"}
	submit := func(org string, at time.Time) {
		next++
		m, _ := core.ParseMilli(sizes[s.rng.IntN(len(sizes))])
		s.submit(core.Job{ID: next, Org: org, Project: org + "-p", User: org + "-u", State: core.StatePending, SubmitTime: at,
			Spec: core.JobSpec{Accelerators: m, Walltime: core.Duration(2 * time.Hour)}})
	}
	// Unlimited demand: each organisation always has 40 jobs waiting; a
	// start is replaced by a new submission.
	for range 40 {
		submit("big", t0)
		submit("small", t0)
	}
	s.onStart = func(id core.JobID, now time.Time) { submit(s.jobs[id].Org, now) }
	s.run()
	for id := range s.running {
		s.stop(id, week)
	}
	big, small := s.accelSec["big"], s.accelSec["small"]
	share := big / (big + small)
	t.Logf("big %.0f, small %.0f accelerator-hours: %.2f%% / %.2f%%", big/3600, small/3600, 100*share, 100*(1-share))
	if share < 0.68 || share > 0.72 {
		t.Errorf("big got %.2f%% of accelerator-hours, want 70%% +- 2%%", 100*share)
	}
	if total := (big + small) / 3600; total < 0.9*128*7*24 {
		t.Errorf("only %.0f accelerator-hours delivered of %d: the cluster idled", total, 128*7*24)
	}
}

// TestPropertyFragmentationPolicy runs the invariants and determinism with
// one-node jobs placed by the fragmentation-aware policy (frag.go).
func TestPropertyFragmentationPolicy(t *testing.T) {
	mix := sched.RequestMix{
		{NodeRequest: sched.NodeRequest{Devices: 1, PerDevice: 250}, Weight: 0.1},
		{NodeRequest: sched.NodeRequest{Devices: 1, PerDevice: 500}, Weight: 0.1},
		{NodeRequest: sched.NodeRequest{Devices: 1, PerDevice: 1000}, Weight: 0.5},
		{NodeRequest: sched.NodeRequest{Devices: 2, PerDevice: 1000}, Weight: 0.1},
		{NodeRequest: sched.NodeRequest{Devices: 4, PerDevice: 1000}, Weight: 0.1},
		{NodeRequest: sched.NodeRequest{Devices: 8, PerDevice: 1000}, Weight: 0.1},
	}
	for seed := uint64(1); seed <= 3; seed++ {
		sites, jobs := workload(seed, 300)
		cfg := propConfig()
		cfg.Fragmentation = mix
		var logs [2][]string
		for i := range logs {
			s := newSim(t, cfg, sites, seed)
			for _, j := range jobs {
				s.submit(j)
			}
			s.run()
			for _, j := range jobs {
				if _, ok := s.started[j.ID]; !ok {
					t.Errorf("seed %d: job %d never started", seed, j.ID)
				}
			}
			logs[i] = s.log
		}
		if diff := cmp.Diff(logs[0], logs[1]); diff != "" {
			t.Errorf("seed %d: runs differ:\n%s", seed, diff)
		}
	}
}
