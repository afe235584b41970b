package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Site state wins (issue 17, item 3): whatever a job holds (an EASY
// reservation, a preemption hold) or names (an advance reservation), no
// Start intent names a site that is draining or down at that step. The
// property runs random sequences of drain, down and resume events,
// reservations made and deleted, submissions with and without
// --reservation, pinned and not, and ends, through the plain engine and
// the federation (the daemon's), and checks every step's intents.
func TestSiteStateWinsProperty(t *testing.T) {
	mk := map[string]func(Config, []core.Site) stepper{
		"engine":     func(c Config, s []core.Site) stepper { return New(c, s) },
		"federation": func(c Config, s []core.Site) stepper { return NewFederation(c, Routing{MaxSlip: 2 * time.Hour}, s) },
	}
	for name, newEngine := range mk {
		for seed := uint64(1); seed <= 40; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) {
				siteStateRun(t, seed, newEngine)
			})
		}
	}
}

type stepper interface {
	Apply(Event)
	Step(time.Time) ([]Intent, time.Time)
}

func siteStateRun(t *testing.T, seed uint64, newEngine func(Config, []core.Site) stepper) {
	rng := rand.New(rand.NewPCG(seed, 17))
	ids := []string{"a", "b", "c"}
	var sites []core.Site
	for _, id := range ids {
		s := site(id, core.Pool{Name: "gpu", Model: "h100", Nodes: 4, AccelPerNode: 4, NodesPerBlock: 2})
		s.Country = "DE"
		sites = append(sites, s)
	}
	cfg := DefaultConfig()
	cfg.BackfillDepth = 8
	e := newEngine(cfg, sites)
	state := map[string]string{"a": core.SiteActive, "b": core.SiteActive, "c": core.SiteActive}
	running := map[core.JobID]string{} // job -> site
	var resv []string
	now := t0
	next := core.JobID(1)
	var log []string
	starts := 0
	for step := 0; step < 120; step++ {
		now = now.Add(time.Duration(1+rng.IntN(20)) * time.Minute)
		for range 1 + rng.IntN(3) {
			switch k := rng.IntN(10); {
			case k < 2: // a site changes state
				s := ids[rng.IntN(len(ids))]
				st := []string{core.SiteActive, core.SiteDraining, core.SiteDown}[rng.IntN(3)]
				state[s] = st
				e.Apply(SiteChanged{Site: s, State: st})
				log = append(log, fmt.Sprintf("%s: site %s %s", now.Format("15:04"), s, st))
			case k < 3: // an advance reservation, starting now or soon
				name := fmt.Sprintf("r%d", step)
				s := ids[rng.IntN(len(ids))]
				start := now.Add(time.Duration(rng.IntN(90)) * time.Minute)
				e.Apply(Reservation{Name: name, Site: s, Model: "h100", Accelerators: 4 * (1 + rng.IntN(2)),
					Start: start, End: start.Add(time.Duration(30+rng.IntN(180)) * time.Minute), Projects: []string{"p"}, Named: rng.IntN(2) == 0})
				resv = append(resv, name)
				log = append(log, fmt.Sprintf("%s: reservation %s at %s from %s", now.Format("15:04"), name, s, start.Format("15:04")))
			case k < 4 && len(resv) > 0: // one deleted
				i := rng.IntN(len(resv))
				e.Apply(ReservationDeleted{Name: resv[i]})
				resv = slices.Delete(resv, i, i+1)
			case k < 5 && next > 1 && rng.IntN(2) == 0: // a job is cancelled, pending or not
				id := core.JobID(1 + rng.IntN(int(next-1)))
				delete(running, id)
				e.Apply(Cancelled{ID: id, At: now})
			case k < 6 && len(running) > 0: // a running job ends
				var rs []core.JobID
				for id := range running {
					rs = append(rs, id)
				}
				slices.Sort(rs)
				id := rs[rng.IntN(len(rs))]
				delete(running, id)
				e.Apply(Ended{ID: id, State: core.StateCompleted, At: now})
			default: // a submission, pinned or not, naming a reservation or not
				b := mkjob(int64(next), fmt.Sprint(1+rng.IntN(8))).Walltime(time.Duration(10+rng.IntN(240)) * time.Minute).Submit(now)
				if rng.IntN(2) == 0 {
					b.Site(ids[rng.IntN(len(ids))])
				}
				if rng.IntN(3) == 0 {
					b.Preemptible(rng.IntN(2) == 0)
				}
				if rng.IntN(3) == 0 {
					b.QoS("high")
				}
				if len(resv) > 0 && rng.IntN(2) == 0 {
					b.j.Spec.Reservation = resv[rng.IntN(len(resv))]
				}
				e.Apply(b.Ev())
				next++
			}
		}
		in, _ := e.Step(now)
		f, fed := e.(*Federation)
		if fed {
			if err := f.checkPicture(); err != nil {
				t.Fatalf("step %d (%s), after the pass: the router's picture: %v\n%s", step, now.Format("15:04"), err, lines(log))
			}
		}
		for _, it := range in {
			switch it := it.(type) {
			case Start:
				if st := state[it.Alloc.Site]; st != core.SiteActive {
					t.Fatalf("step %d (%s): job %s started on site %s, which is %s\n%s", step, now.Format("15:04"), it.ID, it.Alloc.Site, st, lines(log))
				}
				running[it.ID] = it.Alloc.Site
				e.Apply(Started{ID: it.ID, Alloc: it.Alloc, At: now})
				starts++
			case Preempt:
				delete(running, it.ID)
				e.Apply(Ended{ID: it.ID, State: core.StateFailed, At: now, Requeue: true})
			}
		}
	}
	if f, fed := e.(*Federation); fed {
		// The last step's requeued jobs are routed by the next pass.
		f.Step(now.Add(time.Minute))
		if err := f.checkPicture(); err != nil {
			t.Fatalf("at the end: the router's picture: %v", err)
		}
	}
	if starts == 0 {
		t.Fatal("no job started: the property checked nothing")
	}
}

func lines(l []string) string {
	if len(l) > 30 {
		l = l[len(l)-30:]
	}
	out := ""
	for _, s := range l {
		out += s + "\n"
	}
	return out
}
