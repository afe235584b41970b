package sim

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestEndQueueOrder drives endQueue with random pushes (same-second ties,
// ends beyond the ring, pushes into the first bucket), removals and pops,
// as the replay does (nothing ends before the clock), and checks each pop
// against the minimum by (end, id) of the runs queued.
func TestEndQueueOrder(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		q := newEndQueue()
		var now time.Duration
		id := core.JobID(0)
		var queued []*running
		popped, far := 0, 0
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
				if d >= queueRing*time.Second {
					far++
				}
				run := &running{id: id, end: now + d}
				queued = append(queued, run)
				q.push(run, true)
			case k < 6 && len(queued) > 0:
				// Take a queued run out early (outage, preemption).
				i := r.IntN(len(queued))
				q.remove(queued[i])
				queued[i] = queued[len(queued)-1]
				queued = queued[:len(queued)-1]
			default:
				first := -1
				for i, x := range queued {
					if first < 0 || x.end < queued[first].end || x.end == queued[first].end && x.id < queued[first].id {
						first = i
					}
				}
				got, ok := q.peek()
				if ok != (first >= 0) || ok && (got.r != queued[first] || got.id != queued[first].id || got.end != queued[first].end) {
					t.Fatalf("seed %d step %d: peek %v %v, want %d", seed, step, got, ok, first)
				}
				if !ok {
					continue
				}
				now = max(now, got.end)
				want := *got
				if p := q.pop(); p != want {
					t.Fatalf("seed %d step %d: pop %d after peek %d", seed, step, p.id, want.id)
				}
				queued[first] = queued[len(queued)-1]
				queued = queued[:len(queued)-1]
				popped++
			}
			if q.Len() != len(queued) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, q.Len(), len(queued))
			}
		}
		if popped < 1000 || far == 0 {
			t.Fatalf("seed %d: %d pops, %d ends past the ring: the test lost its point", seed, popped, far)
		}
	}
}

// TestEndEntryIsOneLine keeps an end queue entry to one 64-byte cache
// line: every start appends one and every end reads one.
func TestEndEntryIsOneLine(t *testing.T) {
	if n := unsafe.Sizeof(endEntry{}); n != 64 {
		t.Fatalf("endEntry is %d bytes, want 64", n)
	}
}
