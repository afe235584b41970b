package engine_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

var updateRoute = flag.Bool("update-route", false, "rewrite the federation golden files in testdata")

var fedT0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// fedShell drives a Federation with virtual time, the way the daemon does:
// it carries out Start, Preempt and Requeue intents and ends jobs at their
// walltime. It fails the test if a job is ever started while it runs.
type fedShell struct {
	t       *testing.T
	f       *engine.Federation
	now     time.Time
	running map[core.JobID]run
	jobs    map[core.JobID]core.Job
	starts  []startRec // every start, in order
	requeue []engine.Requeue
	done    map[core.JobID]bool
	routes  map[core.JobID]engine.Route // as of each job's latest start
}

type run struct {
	site string
	end  time.Time
}

type startRec struct {
	id   core.JobID
	site string
	at   time.Time
}

func newFedShell(t *testing.T, r engine.Routing, sites []core.Site) *fedShell {
	cfg := engine.DefaultConfig()
	cfg.Preemption.Enabled = false
	return &fedShell{t: t, f: engine.NewFederation(cfg, r, sites), now: fedT0,
		running: map[core.JobID]run{}, jobs: map[core.JobID]core.Job{}, done: map[core.JobID]bool{},
		routes: map[core.JobID]engine.Route{}}
}

func (s *fedShell) submit(j core.Job) {
	j.SubmitTime, j.State = s.now, core.StatePending
	if j.Org == "" {
		j.Org, j.Project, j.User = "org", "proj", "user"
	}
	s.jobs[j.ID] = j
	s.f.Apply(engine.Submitted{Job: j})
}

// step runs one engine pass and carries out its intents.
func (s *fedShell) step() {
	s.t.Helper()
	in, _ := s.f.Step(s.now)
	for _, x := range in {
		switch x := x.(type) {
		case engine.Start:
			if r, ok := s.running[x.ID]; ok {
				s.t.Fatalf("%s: job %d started at %s while running at %s", s.now.Format(time.TimeOnly), x.ID, x.Alloc.Site, r.site)
			}
			if s.done[x.ID] {
				s.t.Fatalf("job %d started again after it finished", x.ID)
			}
			wall := time.Duration(s.jobs[x.ID].Spec.Walltime)
			s.running[x.ID] = run{site: x.Alloc.Site, end: s.now.Add(wall)}
			s.starts = append(s.starts, startRec{x.ID, x.Alloc.Site, s.now})
			if r, ok := s.f.Route(x.ID); ok {
				s.routes[x.ID] = r
			}
			s.f.Apply(engine.Started{ID: x.ID, Alloc: x.Alloc, At: s.now})
		case engine.Requeue:
			r, ok := s.running[x.ID]
			if !ok || r.site != x.Site {
				s.t.Fatalf("requeue of job %d at %s, which is not running there (%+v)", x.ID, x.Site, r)
			}
			s.requeue = append(s.requeue, x)
			delete(s.running, x.ID)
			s.f.Apply(engine.Ended{ID: x.ID, State: core.StateFailed, At: s.now, Requeue: true})
		case engine.Preempt:
			delete(s.running, x.ID)
			s.f.Apply(engine.Ended{ID: x.ID, State: core.StateFailed, At: s.now, Requeue: true})
		}
	}
}

// advance moves virtual time on, ending the jobs due by then, and steps.
func (s *fedShell) advance(d time.Duration) {
	s.t.Helper()
	s.now = s.now.Add(d)
	var ids []core.JobID
	for id, r := range s.running {
		if !r.end.After(s.now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		delete(s.running, id)
		s.done[id] = true
		s.f.Apply(engine.Ended{ID: id, State: core.StateCompleted, At: s.now})
	}
	s.step()
}

// route is the broker's decision for id: the live one, or the one it
// started on once it has finished.
func (s *fedShell) route(id core.JobID) engine.Route {
	if r, ok := s.f.Route(id); ok {
		return r
	}
	return s.routes[id]
}

func (s *fedShell) site(id string) core.Site {
	for _, x := range s.f.Broker().Sites() {
		if x.ID == id {
			return x
		}
	}
	s.t.Fatalf("no site %s", id)
	return core.Site{}
}

func fedJob(id int, accels int, model string, wall time.Duration) core.Job {
	return core.Job{ID: core.JobID(id), Spec: core.JobSpec{Accelerators: core.Milli(accels * 1000), Model: model, Walltime: core.Duration(wall)}}
}

// TestFederationResidencyProperty: random jobs with random residency over
// the EU network, driven for a virtual day with sites draining and coming
// back: every start is in an allowed country, at an active site, at the
// site the broker chose, and no job runs twice.
func TestFederationResidencyProperty(t *testing.T) {
	eu := config.EU()
	s := newFedShell(t, engine.Routing{MaxSlip: 2 * time.Hour}, eu.Sites)
	rng := rand.New(rand.NewPCG(7, 7))
	var countries []string
	for _, x := range eu.Sites {
		if x.Kind != core.SiteAntenna && !slices.Contains(countries, x.Country) {
			countries = append(countries, x.Country)
		}
	}
	models := []string{"", "NVIDIA H100", "NVIDIA GB200", "NVIDIA GH200", "NVIDIA H100|NVIDIA A100"}
	qos := []string{"", core.QoSPlayground, core.QoSLargeScale, core.QoSFastLane}
	allowedAt := map[core.JobID][]string{}
	draining := ""
	id := 0
	for tick := range 48 {
		for range 30 {
			id++
			j := fedJob(id, 1<<rng.IntN(10), models[rng.IntN(len(models))], time.Duration(1+rng.IntN(6))*time.Hour)
			j.Spec.QoS = qos[rng.IntN(len(qos))]
			if rng.IntN(3) > 0 {
				for range 1 + rng.IntN(2) {
					j.Spec.Residency = append(j.Spec.Residency, countries[rng.IntN(len(countries))])
				}
			}
			allowedAt[j.ID] = j.Spec.Residency
			s.submit(j)
		}
		if tick%8 == 3 {
			if draining != "" {
				s.f.Apply(engine.SiteChanged{Site: draining, State: core.SiteActive})
			}
			draining = countriesSite(eu, countries[rng.IntN(len(countries))])
			s.f.Apply(engine.SiteChanged{Site: draining, State: core.SiteDraining})
		}
		before := len(s.starts)
		s.advance(30 * time.Minute)
		for _, st := range s.starts[before:] {
			site := s.site(st.site)
			if res := allowedAt[st.id]; len(res) > 0 && !slices.Contains(res, site.Country) {
				t.Fatalf("job %d with residency %v started at %s in %s", st.id, res, site.ID, site.Country)
			}
			if st.site == draining {
				t.Fatalf("job %d started at draining site %s", st.id, st.site)
			}
			if r := s.route(st.id); r.Winner != st.site {
				t.Fatalf("job %d started at %s, but the broker chose %q", st.id, st.site, r.Winner)
			}
		}
	}
	if len(s.starts) < 500 {
		t.Errorf("only %d starts: the property is checked too rarely", len(s.starts))
	}
}

func countriesSite(eu *config.Config, country string) string {
	for _, s := range eu.Sites {
		if s.Country == country && s.Kind != core.SiteAntenna {
			return s.ID
		}
	}
	return ""
}

// h100North is a job that only mimer (SE) and nlaif (NL) can take: H100s
// in Sweden or the Netherlands.
func h100North(id, accels int, wall time.Duration) core.Job {
	j := fedJob(id, accels, "NVIDIA H100", wall)
	j.Spec.Residency = []string{"SE", "NL"}
	return j
}

// TestFederationDrain: a draining site receives nothing new; its pending
// jobs move; its running jobs keep running.
func TestFederationDrain(t *testing.T) {
	s := newFedShell(t, engine.Routing{}, config.EU().Sites)
	for i := 1; i <= 24; i++ {
		s.submit(h100North(i, 256, 4*time.Hour))
	}
	s.step()
	at := map[string][]core.JobID{}
	for id := core.JobID(1); id <= 24; id++ {
		r, _ := s.f.Route(id)
		at[r.Winner] = append(at[r.Winner], id)
	}
	if len(at["mimer"]) == 0 || len(at["nlaif"]) == 0 {
		t.Fatalf("want jobs routed to both mimer and nlaif, got %v", at)
	}
	runningAtMimer := 0
	for _, r := range s.running {
		if r.site == "mimer" {
			runningAtMimer++
		}
	}
	s.f.Apply(engine.SiteChanged{Site: "mimer", State: core.SiteDraining})
	before := len(s.starts)
	for range 12 {
		s.advance(time.Hour)
	}
	for _, st := range s.starts[before:] {
		if st.site == "mimer" {
			t.Errorf("job %d started at draining mimer at %s", st.id, st.at.Format(time.TimeOnly))
		}
	}
	if len(s.requeue) != 0 {
		t.Errorf("draining requeued running jobs: %v", s.requeue)
	}
	for _, id := range at["mimer"] {
		r := s.route(id)
		if s.done[id] && r.Winner == "mimer" && r.Why == "submitted" {
			continue // it ran at mimer before the drain
		}
		if r.Winner != "nlaif" || r.Why != "site draining" || r.Moves != 1 {
			t.Errorf("job %d: route %s (%s, %d moves), want moved to nlaif because mimer drains", id, r.Winner, r.Why, r.Moves)
		}
	}
	if runningAtMimer == 0 {
		t.Fatal("no job ran at mimer before the drain: the test proves nothing")
	}
	if n := len(s.done); n != 24 {
		t.Errorf("%d of 24 jobs finished after 12 hours", n)
	}
}

// TestFederationSiteDown: a site failure requeues the jobs running there
// (checkpointable ones from their checkpoint) and re-routes the pending
// ones; no job runs twice; everything finishes elsewhere.
func TestFederationSiteDown(t *testing.T) {
	s := newFedShell(t, engine.Routing{}, config.EU().Sites)
	for i := 1; i <= 24; i++ {
		j := h100North(i, 256, 4*time.Hour)
		j.Spec.Checkpointable = i%2 == 0
		s.submit(j)
	}
	s.step()
	s.advance(time.Hour)
	var runningAtMimer []core.JobID
	for id, r := range s.running {
		if r.site == "mimer" {
			runningAtMimer = append(runningAtMimer, id)
		}
	}
	slices.Sort(runningAtMimer)
	var pendingAtMimer []core.JobID
	for id := core.JobID(1); id <= 24; id++ {
		if _, run := s.running[id]; !run {
			if r, _ := s.f.Route(id); r.Winner == "mimer" {
				pendingAtMimer = append(pendingAtMimer, id)
			}
		}
	}
	if len(runningAtMimer) == 0 || len(pendingAtMimer) == 0 {
		t.Fatalf("want jobs running and pending at mimer, got %v and %v", runningAtMimer, pendingAtMimer)
	}
	s.f.Apply(engine.SiteChanged{Site: "mimer", State: core.SiteDown})
	s.advance(time.Minute)
	var got []core.JobID
	for _, rq := range s.requeue {
		got = append(got, rq.ID)
		if rq.FromCheckpoint != (rq.ID%2 == 0) {
			t.Errorf("job %d: FromCheckpoint %v, want %v", rq.ID, rq.FromCheckpoint, rq.ID%2 == 0)
		}
	}
	if diff := cmp.Diff(runningAtMimer, got); diff != "" {
		t.Errorf("requeued (-running at mimer +requeued):\n%s", diff)
	}
	s.advance(time.Minute) // the requeued jobs are routed again
	explain := explainAll(s, []core.JobID{runningAtMimer[0], pendingAtMimer[0]})
	for _, id := range append(slices.Clone(pendingAtMimer), runningAtMimer...) {
		if r := s.route(id); r.Winner != "nlaif" {
			t.Errorf("job %d routed to %q after mimer went down, want nlaif", id, r.Winner)
		}
	}
	// A second down event for the same site asks nothing more.
	s.f.Apply(engine.SiteChanged{Site: "mimer", State: core.SiteDown})
	n := len(s.requeue)
	for range 24 {
		s.advance(time.Hour)
	}
	if len(s.requeue) != n {
		t.Errorf("requeues repeated: %v", s.requeue[n:])
	}
	for _, st := range s.starts {
		if st.site == "mimer" && st.at.After(fedT0.Add(time.Hour)) {
			t.Errorf("job %d started at mimer after it went down", st.id)
		}
	}
	if len(s.done) != 24 {
		t.Errorf("%d of 24 jobs finished", len(s.done))
	}
	fedGolden(t, "federation-site-down.golden", explain)
}

// TestFederationNoSite: a job no site can take waits with the broker's
// reason, and is routed once a site it may use comes back.
func TestFederationNoSite(t *testing.T) {
	eu := config.EU()
	s := newFedShell(t, engine.Routing{}, eu.Sites)
	s.f.Apply(engine.SiteChanged{Site: "mimer", State: core.SiteDown})
	j := fedJob(1, 8, "NVIDIA H100", time.Hour)
	j.Spec.Residency = []string{"SE"}
	s.submit(j)
	s.step()
	st, _ := s.f.Status(1)
	want := "no eligible site: 37 sites filtered out, 36 by residency"
	if st.State != core.StatePending || st.Reason != want {
		t.Fatalf("status %+v, want pending with %q", st, want)
	}
	if p := s.f.Pending(); len(p) != 1 || p[0].Reason != want {
		t.Errorf("Pending() = %+v, want the broker's reason", p)
	}
	s.f.Apply(engine.SiteChanged{Site: "mimer", State: core.SiteActive})
	s.advance(time.Minute)
	if r := s.running[1]; r.site != "mimer" {
		t.Errorf("job 1 runs at %q after mimer came back, want mimer", r.site)
	}
}

// TestFederationSlip: a pending job whose estimated start slips past
// MaxSlip is decided again and moves when another site is now sooner.
func TestFederationSlip(t *testing.T) {
	mk := func(id string) core.Site {
		return core.Site{ID: id, Kind: core.SiteFactory, Country: "FI", State: core.SiteActive, PUE: 1.2, PricePerAccelHour: 2,
			Pools: []core.Pool{{Name: "gpu", Model: "H100", AccelPerNode: 8, Nodes: 1}}}
	}
	s := newFedShell(t, engine.Routing{MaxSlip: time.Hour}, []core.Site{mk("a"), mk("b")})
	// Job 1 fills a for 10 h; job 2 fills b for 1 h; job 3 waits for b.
	s.submit(core.Job{ID: 1, Spec: core.JobSpec{Accelerators: 8000, Site: "a", Walltime: core.Duration(10 * time.Hour)}})
	s.submit(core.Job{ID: 2, Spec: core.JobSpec{Accelerators: 8000, Site: "b", Walltime: core.Duration(time.Hour)}})
	s.step()
	s.submit(fedJob(3, 8, "", 2*time.Hour))
	s.advance(time.Minute)
	if r, _ := s.f.Route(3); r.Winner != "b" {
		t.Fatalf("job 3 routed to %q, want b (free in 1 h)\n%s", r.Winner, r.Text())
	}
	// Higher-priority work pinned to b arrives and queues ahead of job 3:
	// its estimated start at b slips from 1 h to 11 h, while a frees up
	// at 10 h.
	for i := 4; i <= 8; i++ {
		j := core.Job{ID: core.JobID(i), Spec: core.JobSpec{Accelerators: 8000, Site: "b", QoS: core.QoSFastLane, Walltime: core.Duration(2 * time.Hour)}}
		s.submit(j)
	}
	for range 12 {
		s.advance(time.Hour)
	}
	r := s.route(3)
	if r.Why != "estimated start slipped" || r.Moves != 1 {
		t.Errorf("job 3: route %s because %q (%d moves), want moved because its start slipped\n%s", r.Winner, r.Why, r.Moves, r.Text())
	}
	var at string
	for _, st := range s.starts {
		if st.id == 3 {
			at = st.site
		}
	}
	if at != "a" {
		t.Errorf("job 3 started at %q, want a after b's start slipped", at)
	}
}

// explainAll renders the routes of ids as gf explain would.
func explainAll(s *fedShell, ids []core.JobID) string {
	var b strings.Builder
	for _, id := range ids {
		r, ok := s.f.Route(id)
		if !ok {
			fmt.Fprintf(&b, "job %d: not routed\n", id)
			continue
		}
		fmt.Fprintf(&b, "job %d: routed %s at %s (%s, %d moves)\n", id, r.Winner, r.At.Format(time.TimeOnly), r.Why, r.Moves)
		b.WriteString(r.Text())
		b.WriteString("\n")
	}
	return b.String()
}

func fedGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateRoute {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Federation -update-route to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestFederationFairShare: usage at one site counts against the same
// share at every other: an org that has run at site a waits behind one
// that has not for the single free slot at site b.
func TestFederationFairShare(t *testing.T) {
	mk := func(id, model string, nodes int) core.Site {
		return core.Site{ID: id, Kind: core.SiteFactory, Country: "FI", State: core.SiteActive, PUE: 1.2, PricePerAccelHour: 2,
			Pools: []core.Pool{{Name: "gpu", Model: model, AccelPerNode: 8, Nodes: nodes}}}
	}
	s := newFedShell(t, engine.Routing{}, []core.Site{mk("a", "Y", 4), mk("b", "X", 1)})
	for i := 1; i <= 4; i++ {
		j := fedJob(i, 8, "Y", 4*time.Hour)
		j.Org, j.Project, j.User = "busy", "p", "u"
		s.submit(j)
	}
	s.step()
	// b is full for 3 hours.
	s.submit(core.Job{ID: 10, Org: "other", Project: "q", User: "v", Spec: core.JobSpec{Accelerators: 8000, Model: "X", Walltime: core.Duration(3 * time.Hour)}})
	s.step()
	s.advance(time.Hour)
	busy := fedJob(20, 8, "X", time.Hour)
	busy.Org, busy.Project, busy.User = "busy", "p", "u"
	idle := fedJob(21, 8, "X", time.Hour)
	idle.Org, idle.Project, idle.User = "idle", "r", "w"
	s.submit(busy)
	s.submit(idle)
	s.advance(time.Hour)
	fs := func(id core.JobID) float64 {
		b, ok := s.f.Explain(id)
		if !ok {
			t.Fatalf("job %d unknown", id)
		}
		for _, f := range b.Factors {
			if f.Name == "fairshare" {
				return f.Value
			}
		}
		t.Fatalf("job %d: no fairshare factor in %+v", id, b)
		return 0
	}
	if fb, fi := fs(20), fs(21); fb >= fi {
		t.Errorf("fair-share factor of the org that used site a: %.3f, of the idle org: %.3f; want lower", fb, fi)
	}
	for range 3 {
		s.advance(time.Hour)
	}
	var order []core.JobID
	for _, st := range s.starts {
		if st.id == 20 || st.id == 21 {
			order = append(order, st.id)
		}
	}
	if diff := cmp.Diff([]core.JobID{21, 20}, order); diff != "" {
		t.Errorf("start order at b (-want +got):\n%s", diff)
	}
}

// TestFederationWinnerOnly: with WinnerOnly, a route lists the winner's
// verdict alone, pending or running; without it, every site's.
func TestFederationWinnerOnly(t *testing.T) {
	eu := config.EU()
	for _, tc := range []struct {
		winnerOnly bool
		verdicts   int
	}{{false, len(eu.Sites)}, {true, 1}} {
		s := newFedShell(t, engine.Routing{WinnerOnly: tc.winnerOnly}, eu.Sites)
		s.submit(fedJob(1, 8, "NVIDIA H100", time.Hour))
		s.step()
		r := s.routes[1] // as the job started
		if len(r.Sites) != tc.verdicts || r.Winner == "" || r.Sites[0].Site != r.Winner {
			t.Fatalf("WinnerOnly %v: route at start has %d verdicts, winner %q; want %d led by the winner", tc.winnerOnly, len(r.Sites), r.Winner, tc.verdicts)
		}
		live, ok := s.f.Route(1)
		if !ok || len(live.Sites) != tc.verdicts || live.Winner != r.Winner {
			t.Fatalf("WinnerOnly %v: running job's route has %d verdicts, winner %q; want %d, %q", tc.winnerOnly, len(live.Sites), live.Winner, tc.verdicts, r.Winner)
		}
	}
}

// TestFederationWholeNodeRouting: a job that needs eight devices of one
// node goes to the site with a node free, not to the site with as many
// devices free but scattered over busy nodes (where, under first fit, a
// stream of one-device jobs would keep it waiting).
func TestFederationWholeNodeRouting(t *testing.T) {
	mk := func(id string) core.Site {
		return core.Site{ID: id, Kind: core.SiteFactory, Country: "FI", State: core.SiteActive, PUE: 1.2, PricePerAccelHour: 2,
			Pools: []core.Pool{{Name: "gpu", Model: "H100", AccelPerNode: 8, Nodes: 3}}}
	}
	s := newFedShell(t, engine.Routing{}, []core.Site{mk("a"), mk("b")})
	// a: a five-device job on each node: 9 devices free, no node free.
	for i := 1; i <= 3; i++ {
		s.submit(core.Job{ID: core.JobID(i), Spec: core.JobSpec{Accelerators: 5000, Site: "a", Walltime: core.Duration(10 * time.Hour)}})
	}
	// b: two nodes taken whole: 8 devices free, on one node.
	for i := 4; i <= 5; i++ {
		s.submit(core.Job{ID: core.JobID(i), Spec: core.JobSpec{Accelerators: 8000, Site: "b", Walltime: core.Duration(10 * time.Hour)}})
	}
	s.step()
	if len(s.starts) != 5 {
		t.Fatalf("%d jobs started, want 5", len(s.starts))
	}
	s.submit(fedJob(10, 8, "", time.Hour))
	s.advance(time.Minute)
	r := s.route(10)
	if r.Winner != "b" {
		t.Fatalf("job 10 (8 devices, one node) routed to %q, want b, the site with a free node\n%s", r.Winner, r.Text())
	}
	if run, ok := s.running[10]; !ok || run.site != "b" {
		t.Errorf("job 10 not running at b: %+v", s.running[10])
	}
}

// TestFederationOverrunIsNotFree: a job running past its walltime (a site
// that does not enforce it) is not counted as freeing its node now: the
// broker sends new work to the site whose job ends by its walltime.
func TestFederationOverrunIsNotFree(t *testing.T) {
	mk := func(id string) core.Site {
		return core.Site{ID: id, Kind: core.SiteFactory, Country: "FI", State: core.SiteActive, PUE: 1.2, PricePerAccelHour: 2,
			Pools: []core.Pool{{Name: "gpu", Model: "H100", AccelPerNode: 8, Nodes: 1}}}
	}
	s := newFedShell(t, engine.Routing{}, []core.Site{mk("a"), mk("b")})
	s.submit(core.Job{ID: 1, Spec: core.JobSpec{Accelerators: 8000, Site: "a", Walltime: core.Duration(time.Hour)}})
	s.step()
	// Job 1 keeps running past its hour (the site does not stop it).
	s.running[1] = run{site: "a", end: s.now.Add(1000 * time.Hour)}
	s.advance(3 * time.Hour)
	s.submit(core.Job{ID: 2, Spec: core.JobSpec{Accelerators: 8000, Site: "b", Walltime: core.Duration(2 * time.Hour)}})
	s.step()
	s.submit(fedJob(3, 8, "", time.Hour))
	s.advance(time.Minute)
	if r := s.route(3); r.Winner != "b" {
		t.Fatalf("job 3 routed to %q, want b (its job ends in 2 h; a's overran its walltime)\n%s", r.Winner, r.Text())
	}
}
