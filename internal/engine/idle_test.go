package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// The tests of this file hold the engine to "no idle accelerators while a
// job fits": capacity that comes back starts what fits in the very next
// Step, not at the next re-prioritisation (a minute later by default).

// startAll applies a Started for every Start of in, at now, and returns
// the started ids in order.
func startAll(e interface{ Apply(Event) }, in []Intent, now time.Time) []core.JobID {
	var ids []core.JobID
	for _, i := range in {
		if s, ok := i.(Start); ok {
			e.Apply(Started{ID: s.ID, Alloc: s.Alloc, At: now})
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// One node of 4 accelerators: a long job holds part of it, a short job
// the rest; jobs that need the short job's accelerators arrive and wait,
// the first reserved at the long job's end. When the short job ends, the
// very next Step starts every waiting job that fits, the reserved one and
// one of higher priority that found the node held for it.
func TestFreedCapacityStartsInTheNextStep(t *testing.T) {
	tests := map[string]struct {
		long, short string
		waiting     []string // submitted in this order, one second apart
		want        []core.JobID
	}{
		"the reserved job takes the short job's place": {
			long: "2", short: "2", waiting: []string{"2"}, want: []core.JobID{3},
		},
		// 3 (1 accelerator) is reserved at the long job's end; 4 (2, so of
		// higher priority by size) finds the only node held and gets no
		// reservation. When 3 starts on its reservation, the node's
		// remaining room goes back to ordinary placement, after 4 was
		// decided: the pass walks again and 4 starts too.
		"a job of higher priority than the reserved one": {
			long: "1", short: "3", waiting: []string{"1", "2"}, want: []core.JobID{3, 4},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := site("s", pool("gpu", 1, 4))
			s.Kind = core.SiteLocal
			for _, fed := range []bool{false, true} {
				var e interface {
					Apply(Event)
					Step(time.Time) ([]Intent, time.Time)
					Status(core.JobID) (Status, bool)
				}
				if fed {
					e = NewFederation(DefaultConfig(), Routing{MaxSlip: 2 * time.Hour}, []core.Site{s})
				} else {
					e = New(DefaultConfig(), []core.Site{s})
				}
				now := t0
				e.Apply(mkjob(1, tc.long).Submit(now).Ev())
				if got := startAll(e, first(e.Step(now)), now); !slices.Equal(got, []core.JobID{1}) {
					t.Fatalf("long job: started %v", got)
				}
				now = now.Add(time.Second)
				e.Apply(mkjob(2, tc.short).Submit(now).Ev()) // no walltime: it is expected to end after the long job
				if got := startAll(e, first(e.Step(now)), now); !slices.Equal(got, []core.JobID{2}) {
					t.Fatalf("short job: started %v", got)
				}
				for i, acc := range tc.waiting {
					now = now.Add(time.Second)
					e.Apply(mkjob(int64(3+i), acc).Submit(now).Ev())
					if got := startAll(e, first(e.Step(now)), now); len(got) > 0 {
						t.Fatalf("job %d started %v on a full node", 3+i, got)
					}
				}
				st, _ := e.Status(3)
				if !strings.Contains(strings.Join(st.Reasons, "; "), "reserved:") || st.EstimatedStart == nil || !st.EstimatedStart.Equal(t0.Add(24*time.Hour)) {
					t.Fatalf("job 3 is not reserved at the long job's end (%s): %v %v", t0.Add(24*time.Hour), st.EstimatedStart, st.Reasons)
				}
				// The short job ends well before its walltime and before the
				// next re-prioritisation (a minute after the first Step).
				now = now.Add(5 * time.Second)
				e.Apply(Ended{ID: 2, State: core.StateCompleted, At: now})
				got := startAll(e, first(e.Step(now)), now)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					for _, id := range tc.want {
						st, _ := e.Status(id)
						t.Logf("job %d: %s %v", id, st.State, st.Reasons)
					}
					t.Fatalf("federation %v: the Step after the end started %v, want %v", fed, got, tc.want)
				}
			}
		})
	}
}

func first(in []Intent, _ time.Time) []Intent { return in }

// heldRoom returns a hold pending job j could start on now without
// delaying its holder, or nil. It is worked out apart from the engine's
// backfill (sched.HoldSet.FitsAt), the plain way: j fits the held nodes
// (PlaceOn) and either ends by the holder's start, or, on an EASY
// reservation's nodes, is committed there for a moment while each held
// node is asked when it has the holder's devices free (HeldAt).
func heldRoom(e *Engine, j *job) *hold {
	pools := e.cluster.Eligible(&j.req)
	holds := slices.Clone(e.holds)
	for _, a := range e.resv {
		if a.h != nil && !a.active {
			holds = append(holds, a.h)
		}
	}
	for _, h := range holds {
		if h == j.hold || !slices.Contains(pools, h.pool) {
			continue
		}
		pl, ok := e.cluster.PlaceOn(&j.req, h.hs)
		if !ok {
			continue
		}
		end := e.now.Add(e.wallOn(j, h.pool))
		if !end.After(h.at) {
			return h
		}
		if h.kind != holdBackfill {
			continue
		}
		p := e.cluster.Pools[h.pool]
		r := &h.job.req
		d := r.Devices(p)
		gang := r.Nodes > 1 || r.Nodes != 1 && d > p.K
		e.cluster.Commit(&pl, upSec(end)) // it runs past h.at, if by less than a second
		free, perBlock, most := 0, map[int]int{}, 0
		for _, i := range h.hs.Nodes {
			w := d
			if gang {
				w = p.K
			}
			if p.HeldAt(int(i), w) <= h.at.Unix() {
				free++
				perBlock[p.BlockOf(int(i))]++
				most = max(most, perBlock[p.BlockOf(int(i))])
			}
		}
		e.cluster.Release(&pl)
		fits := free >= 1
		if gang {
			fits = free >= d/p.K && (r.Topology != sched.TopoBlock || most >= d/p.K)
		}
		if fits {
			return h
		}
	}
	return nil
}

// noIdle fails the test if a pending job of e could start now: on
// capacity no hold keeps, or on held nodes without delaying the holder.
// It returns how many pending jobs it checked; at names the moment in
// the failure.
func noIdle(t *testing.T, e *Engine, at string) int {
	t.Helper()
	checked := 0
	for _, j := range e.order {
		if j.State != core.StatePending || j.wt().quota != "" {
			continue
		}
		var one [1]sched.NodeShare
		if _, miss := e.cluster.PlaceInto(&j.req, e.cluster.Eligible(&j.req), &one); miss.Code == sched.MissNone {
			st, _ := e.Status(j.ID)
			t.Fatalf("%s: job %d (%s accelerators) fits on free capacity but waits: %v", at, j.ID, j.req.Milli, st.Reasons)
		}
		if h := heldRoom(e, j); h != nil {
			st, _ := e.Status(j.ID)
			holder := "an advance reservation"
			if h.job != nil {
				holder = fmt.Sprintf("job %d", h.job.ID)
			}
			t.Fatalf("%s: job %d (%s accelerators, %s) could start on nodes held for %s from %s without delaying it, but waits: %v",
				at, j.ID, j.req.Milli, j.wall, holder, h.at.Format(time.TimeOnly), st.Reasons)
		}
		checked++
	}
	return checked
}

// TestPropertyNoIdleWhileFits: over random workloads, after every Step no
// pending job could be placed on capacity that no reservation holds, nor
// on held nodes without delaying their holder: what fits has started.
// Quotas and advance reservations are not in the workload, so nothing
// else may hold a job back.
func TestPropertyNoIdleWhileFits(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			sites, jobs := workload(seed, 300)
			s := newSim(t, propConfig(), sites, seed)
			for _, j := range jobs {
				s.submit(j)
			}
			checked := 0
			s.afterStep = func(now time.Time) { checked += noIdle(t, s.e, now.Format(time.TimeOnly)) }
			s.run()
			if checked == 0 {
				t.Fatal("no job ever waited: the workload does not exercise the property")
			}
		})
	}
}

// TestPropertyNoIdleWhileFitsOneNode: the same on the shape of the issue,
// the local site (one node), with jobs of one to all its accelerators.
func TestPropertyNoIdleWhileFitsOneNode(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		st := site("s", pool("gpu", 1+rng.IntN(2), 8))
		st.Kind = core.SiteLocal
		f := NewFederation(DefaultConfig(), Routing{MaxSlip: 2 * time.Hour}, []core.Site{st})
		now := t0
		var running []core.JobID
		for id := int64(1); id <= 40; {
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			if rng.IntN(3) < 2 {
				b := mkjob(id, []string{"1", "2", "4", "6", "8"}[rng.IntN(5)]).Submit(now)
				if rng.IntN(3) == 0 {
					b.Walltime(time.Duration(1+rng.IntN(100)) * time.Minute)
				}
				f.Apply(b.Ev())
				id++
			} else if len(running) > 0 {
				k := running[rng.IntN(len(running))]
				running = slices.DeleteFunc(running, func(x core.JobID) bool { return x == k })
				f.Apply(Ended{ID: k, State: core.StateCompleted, At: now})
			}
			running = append(running, startAll(f, first(f.Step(now)), now)...)
			noIdle(t, f.Engine, fmt.Sprintf("seed %d, %s", seed, now.Format(time.TimeOnly)))
		}
	}
}

// Issue 12, finding 6: one node of 8; a long job (L) and a short one (S)
// start together and fill it, B1 waits with an EASY reservation at L's end and B2 waits
// behind it. Every job gives no walltime and is planned with the site's
// default of 1 h, so B2, started when S ends, would still run at B1's
// reserved start. It starts all the same, in the Step in which S's end is
// applied, when B1 still fits beside it then: the reservation counts on
// devices, not on the whole node. When it does not fit, B2 waits. Either
// way B1 starts at its reserved time.
func TestBackfillBesideAReservation(t *testing.T) {
	tests := map[string]struct {
		nodes, k       int
		long, short    string
		reserved, next string // B1, then B2
		nextWall       time.Duration
		want           bool // B2 starts when S ends
	}{
		"the issue: 6 of 8 run long, 4 reserved, 2 start beside": {
			nodes: 1, k: 8, long: "6", short: "2", reserved: "4", next: "2", want: true,
		},
		"B2 would leave B1 too little: it waits": {
			nodes: 1, k: 8, long: "4", short: "4", reserved: "6", next: "4", want: false,
		},
		"B2 leaves B1 exactly what it needs": {
			nodes: 1, k: 8, long: "4", short: "4", reserved: "6", next: "2", want: true,
		},
		"B2 would leave too little but ends in time": {
			nodes: 1, k: 8, long: "4", short: "4", reserved: "6", next: "4", nextWall: 10 * time.Minute, want: true,
		},
		"a fraction beside a reservation of part of the node": {
			nodes: 1, k: 8, long: "6", short: "2", reserved: "4", next: "0.5", want: true,
		},
		"a fraction on a node reserved whole": {
			nodes: 1, k: 8, long: "6", short: "2", reserved: "8", next: "0.5", want: false,
		},
		"a gang reserved on two whole nodes": {
			nodes: 2, k: 4, long: "4", short: "4", reserved: "8", next: "2", want: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := site("s", pool("gpu", tc.nodes, tc.k))
			s.Kind = core.SiteLocal
			s.DefaultWalltime = core.Duration(time.Hour)
			cfg := DefaultConfig()
			cfg.SiteWalltimes = true
			for _, fed := range []bool{false, true} {
				var e interface {
					Apply(Event)
					Step(time.Time) ([]Intent, time.Time)
					Status(core.JobID) (Status, bool)
				}
				if fed {
					e = NewFederation(cfg, Routing{MaxSlip: 2 * time.Hour}, []core.Site{s})
				} else {
					e = New(cfg, []core.Site{s})
				}
				step := func(now time.Time) []core.JobID {
					got := startAll(e, first(e.Step(now)), now)
					slices.Sort(got)
					return got
				}
				now := t0
				e.Apply(mkjob(1, tc.long).Submit(now).Ev())
				e.Apply(mkjob(2, tc.short).Submit(now).Ev())
				if got := step(now); !slices.Equal(got, []core.JobID{1, 2}) {
					t.Fatalf("L and S: started %v", got)
				}
				lEnd := now.Add(time.Hour) // S is planned to end then too
				now = now.Add(time.Second)
				e.Apply(mkjob(3, tc.reserved).Submit(now).Ev())
				b2 := mkjob(4, tc.next).Submit(now)
				if tc.nextWall > 0 {
					b2.Walltime(tc.nextWall)
				}
				e.Apply(b2.Ev())
				if got := step(now); len(got) > 0 {
					t.Fatalf("started %v on a full node", got)
				}
				st, _ := e.Status(3)
				if !strings.Contains(strings.Join(st.Reasons, "; "), "reserved:") || st.EstimatedStart == nil || !st.EstimatedStart.Equal(lEnd) {
					t.Fatalf("B1 is not reserved at L's end (%s): %v %v", lEnd, st.EstimatedStart, st.Reasons)
				}
				now = now.Add(2 * time.Second) // S ends 3 s after it started
				e.Apply(Ended{ID: 2, State: core.StateCompleted, At: now})
				got := step(now)
				want := []core.JobID{}
				if tc.want {
					want = []core.JobID{4}
				}
				if !slices.Equal(got, want) {
					st, _ := e.Status(4)
					t.Fatalf("federation %v: the Step after S's end started %v, want %v (B2: %v)", fed, got, want, st.Reasons)
				}
				if st, _ := e.Status(3); st.EstimatedStart == nil || !st.EstimatedStart.Equal(lEnd) {
					t.Fatalf("B1's reservation moved: %v %v", st.EstimatedStart, st.Reasons)
				}
				if tc.want && tc.nextWall > 0 {
					// B2 ends by its walltime, before B1's start.
					at := now.Add(tc.nextWall)
					e.Apply(Ended{ID: 4, State: core.StateTimeout, At: at})
					if got := step(at); len(got) > 0 {
						t.Fatalf("B2's end started %v before B1's reservation", got)
					}
				}
				// L runs its whole walltime; B1 starts then.
				e.Apply(Ended{ID: 1, State: core.StateTimeout, At: lEnd})
				got = step(lEnd)
				if !slices.Contains(got, 3) {
					st, _ := e.Status(3)
					t.Fatalf("federation %v: at L's end started %v, not B1: %v", fed, got, st.Reasons)
				}
			}
		})
	}
}
