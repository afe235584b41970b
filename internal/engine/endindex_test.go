package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestEndIndexMatchesBruteForce drives the index with random placements,
// releases and clock moves (including jumps past the ring) and checks
// every answer against a sorted list of the same ends.
func TestEndIndexMatchesBruteForce(t *testing.T) {
	type item struct {
		pool int
		b    int64
		m    core.Milli
	}
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		x := newEndIndex(3)
		now := int64(1_700_000_000)
		var live []item
		for step := 0; step < 3000; step++ {
			switch k := r.IntN(10); {
			case k < 5: // place: ends from the past (overrunning) to beyond the ring
				pi := r.IntN(3)
				var at int64
				switch r.IntN(6) {
				case 0:
					at = now - int64(r.IntN(7200))
				case 1:
					at = now + int64(r.IntN(30*86400)) // may be clamped
				default:
					at = now + int64(r.IntN(86400))
				}
				m := core.Milli(1+r.IntN(8)) * 500
				b := x.add(pi, at, m, now)
				live = append(live, item{pi, b, m})
			case k < 8 && len(live) > 0: // release one
				i := r.IntN(len(live))
				it := live[i]
				x.remove(it.pool, it.b, it.m)
				live = slices.Delete(live, i, i+1)
			default: // time passes: seconds, hours, or more than the ring
				switch r.IntN(10) {
				case 0:
					now += int64(endRing+r.IntN(1000)) * endRes
				case 1, 2:
					now += int64(r.IntN(36000))
				default:
					now += int64(r.IntN(300))
				}
			}
			pi := r.IntN(3)
			need := core.Milli(1+r.IntN(40)) * 500
			at, ok, freed, last := x.when(pi, need, now)

			// Brute force.
			// Ends already past (jobs over their walltime) do not count.
			nowB := now / endRes
			var fut []item
			for _, it := range live {
				if it.pool == pi && it.b >= nowB {
					fut = append(fut, it)
				}
			}
			slices.SortFunc(fut, func(a, b item) int { return int(a.b - b.b) })
			wantOK, wantAt := false, int64(0)
			wantFreed, wantLast := core.Milli(0), now
			var cum core.Milli
			for _, it := range fut {
				cum += it.m
				wantLast = max((it.b+1)*endRes, now)
				if cum >= need && !wantOK {
					wantOK, wantAt = true, max((it.b+1)*endRes, now)
				}
			}
			wantFreed = cum
			if ok != wantOK {
				t.Fatalf("seed %d step %d: ok %v, want %v (need %v, %d future ends)", seed, step, ok, wantOK, need, len(fut))
			}
			if ok && at != wantAt {
				t.Fatalf("seed %d step %d: at %d, want %d (now %d)", seed, step, at, wantAt, now)
			}
			if !ok && (freed != wantFreed || last != wantLast) {
				t.Fatalf("seed %d step %d: freed %v last %d, want %v %d", seed, step, freed, last, wantFreed, wantLast)
			}
		}
	}
}
