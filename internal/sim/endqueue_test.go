package sim

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestEndQueueMatchesHeap drives endQueue and endHeap with the same random
// pushes (same-second ties, ends beyond the ring, pushes into the first
// bucket), removals and pops, as the replay does (nothing ends before the
// clock), and requires the same sequence.
func TestEndQueueMatchesHeap(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		q := newEndQueue()
		var h endHeap
		var now time.Duration
		id := core.JobID(0)
		var live []*running // queued runs
		queued := map[*running]bool{}
		popped := 0
		for step := 0; step < 20000; step++ {
			switch k := r.IntN(10); {
			case k < 5:
				id++
				var d time.Duration
				switch r.IntN(8) {
				case 0:
					d = 0 // ends now
				case 1:
					d = time.Duration(r.IntN(100*3600)) * time.Second // may be past the ring
				case 2:
					d = time.Duration(r.IntN(3)) * time.Second // same second
				default:
					d = time.Duration(r.IntN(7200_000)) * time.Millisecond
				}
				run := &running{id: id, end: now + d}
				live = append(live, run)
				queued[run] = true
				// The queue and the heap each need their own record for
				// gens; they share the key.
				q.push(run)
				h.push(run)
			case k < 6 && len(live) > 0:
				// Take a queued run out early (outage, preemption).
				i := r.IntN(len(live))
				run := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				delete(queued, run)
				q.remove(run) // bumps gen: both see the entry stale
				run.gen--
				h.remove(run)
			default:
				hr, hok := h.peek()
				qr, qok := q.peek()
				if hok != qok || hok && hr != qr {
					t.Fatalf("seed %d step %d: peek heap %v %v, queue %v %v", seed, step, hr, hok, qr, qok)
				}
				if !hok {
					continue
				}
				now = max(now, hr.end)
				h.pop()
				if got := q.pop(); got != hr {
					t.Fatalf("seed %d step %d: pop %d, heap %d", seed, step, got.id, hr.id)
				}
				if !queued[hr] {
					t.Fatalf("seed %d step %d: popped run %d, which was taken out", seed, step, hr.id)
				}
				delete(queued, hr)
				for i, x := range live {
					if x == hr {
						live[i] = live[len(live)-1]
						live = live[:len(live)-1]
						break
					}
				}
				popped++
			}
			if q.Len() != h.Len() {
				t.Fatalf("seed %d step %d: len %d, heap %d", seed, step, q.Len(), h.Len())
			}
		}
		if popped < 1000 {
			t.Fatalf("seed %d: only %d pops", seed, popped)
		}
	}
}
