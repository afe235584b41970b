package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// estimateRef is estimate as it was with one heap over the network: it sets every pending job's estimated start by simulating the
// queue in priority order on per-pool accelerator counts, with running
// jobs ending at their walltime (like `squeue --start`, without
// topology, so an approximation; a job with a reservation gets the
// reservation's time).
func (e *Engine) estimateRef(now time.Time) {
	free := make([]int, len(e.cluster.Pools))
	for i, p := range e.cluster.Pools {
		free[i] = p.Free()
	}
	var h endHeap
	// The running jobs' ends go into the heap only when a pending job
	// needs one: when nothing waits (most passes of a busy but unsaturated
	// network) an estimate costs nothing per running job. The job table's
	// order does not matter: the heap's order is total (time, id).
	built := false
	build := func() {
		built = true
		n := now.Unix()
		e.jobs.each(func(_ core.JobID, j *job) {
			if j.placed {
				at := max(j.start.Add(j.wall).Unix(), n)
				h = append(h, endEvent{at: at, id: j.ID, pool: int32(j.pl.Pool), dev: int32(j.pl.Milli().Whole())})
			}
		})
		h.init()
	}
	t := now.Unix()
	for _, j := range e.order {
		if j.State != core.StatePending {
			continue
		}
		if j.w != nil {
			j.w.est = time.Time{}
		}
		if j.wt().quota != "" && j.seenPass == e.pass || j.seenPass != e.pass && j.shape.pass == e.pass && j.shape.quota != "" {
			continue // held by a quota: no estimate
		}
		if j.hold != nil && j.hold.kind != holdAdvance {
			j.ww().est = j.hold.at // the reservation is the estimate
			continue
		}
		if a := e.named(j); a != nil {
			if a.h != nil && a.Start.After(now) {
				j.ww().est = a.Start // its window's start
			}
			continue
		}
		pools := j.shape.grp.pools
		if pools == nil {
			pools = e.cluster.Eligible(&j.req)
			j.shape.grp.pools = pools
		}
		fits := false
		for _, pi := range pools {
			if j.req.Devices(e.cluster.Pools[pi]) <= e.cluster.Pools[pi].Total() {
				fits = true
			}
		}
		if !fits {
			continue
		}
		// A job this pass found no room for cannot start before something
		// ends, whatever the counts say (fragmentation, topology).
		blocked := j.seenPass == e.pass && j.wt().miss.Code != sched.MissNone && t == now.Unix()
		for {
			placed := false
			for _, pi := range pools {
				if blocked {
					break
				}
				p := e.cluster.Pools[pi]
				if d := j.req.Devices(p); d <= free[pi] {
					free[pi] -= d
					h.push(endEvent{at: t + int64(j.wall/time.Second), id: j.ID, pool: int32(pi), dev: int32(d)})
					placed = true
					break
				}
			}
			if placed {
				break
			}
			if !built {
				build()
			}
			if len(h) == 0 {
				break
			}
			ev := h.pop()
			t = max(t, ev.at)
			free[ev.pool] += int(ev.dev)
			blocked = blocked && t == now.Unix()
		}
		w := j.ww()
		w.est = time.Unix(t, 0).UTC()
		if j.hold != nil && j.hold.at.Before(w.est) {
			w.est = j.hold.at
		}
	}
}

// estimate, which keeps ends per pool and takes the others lazily, gives
// every pending job the estimated start of the one-heap simulation
// (estimateRef), after every Step of the property workloads (preemption,
// reservations, gangs, jobs running past their walltime), both at the
// Step's time and two hours on, when most running jobs are past due.
func TestEstimateMatchesOneHeap(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			sites, jobs := workload(seed, 400)
			s := newSim(t, propConfig(), sites, seed)
			for _, j := range jobs {
				s.submit(j)
			}
			compared, waiting := 0, 0
			s.afterStep = func(now time.Time) {
				for _, at := range []time.Time{now, now.Add(2 * time.Hour)} {
					s.e.estimateRef(at)
					want := map[core.JobID]time.Time{}
					for _, j := range s.e.order {
						if j.State == core.StatePending {
							want[j.ID] = j.wt().est
						}
					}
					s.e.estimate(at)
					for _, j := range s.e.order {
						if j.State != core.StatePending {
							continue
						}
						compared++
						if !want[j.ID].IsZero() && want[j.ID].After(at) {
							waiting++
						}
						if got := j.wt().est; !got.Equal(want[j.ID]) {
							t.Fatalf("at %s (step %s): job %d estimated %s, one heap %s", at.Format(time.TimeOnly), now.Format(time.TimeOnly), j.ID, got, want[j.ID])
						}
					}
				}
			}
			s.run()
			if waiting == 0 {
				t.Fatalf("%d estimates compared, none after its time: the workload does not queue", compared)
			}
			t.Logf("%d estimates compared, %d after their time", compared, waiting)
		})
	}
}

var _ = sched.MissNone
