package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestJobTableMatchesMap: random puts, overwrites and deletes, with dense
// sequential ids (as the store hands out) and sparse ones, agree with a
// map at every step, through growth and the backward shifts of deletion.
func TestJobTableMatchesMap(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		var tab jobTable
		ref := map[core.JobID]*job{}
		next := core.JobID(1)
		for step := 0; step < 50000; step++ {
			var id core.JobID
			if r.IntN(2) == 0 {
				id = next
				next++
			} else {
				id = core.JobID(r.Int64N(int64(next) + 64))
			}
			switch r.IntN(3) {
			case 0, 1:
				j := &job{}
				tab.put(id, j)
				ref[id] = j
			default:
				tab.del(id)
				delete(ref, id)
			}
			probe := core.JobID(r.Int64N(int64(next) + 64))
			if got, want := tab.get(probe), ref[probe]; got != want {
				t.Fatalf("seed %d step %d: get(%d) = %p, want %p", seed, step, probe, got, want)
			}
			if tab.len() != len(ref) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, tab.len(), len(ref))
			}
		}
		seen := 0
		tab.each(func(id core.JobID, j *job) {
			if ref[id] != j {
				t.Fatalf("seed %d: each gave %d -> %p, want %p", seed, id, j, ref[id])
			}
			seen++
		})
		if seen != len(ref) {
			t.Fatalf("seed %d: each visited %d, want %d", seed, seen, len(ref))
		}
	}
}
