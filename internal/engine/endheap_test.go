package engine

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// The estimate's heap pops its events in (at, id) order, whether they came
// in through init (the running jobs' ends) or push (the pending jobs'),
// and however many: the order is total, so estimates do not depend on the
// heap's shape.
func TestEndHeapPopsInOrder(t *testing.T) {
	for name, tc := range map[string]struct{ initN, pushN int }{
		"empty":            {0, 0},
		"one":              {1, 0},
		"init only":        {1000, 0},
		"push only":        {0, 1000},
		"init then pushes": {5000, 777},
		"ties on at":       {64, 64},
	} {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.initN+tc.pushN)))
			span := int64(100_000)
			if name == "ties on at" {
				span = 3
			}
			var h endHeap
			var all []endEvent
			id := core.JobID(0)
			mk := func() endEvent {
				id++
				ev := endEvent{at: r.Int64N(span), id: core.JobID(r.Int64N(1 << 40)), pool: int32(id % 7), dev: int32(id % 9)}
				all = append(all, ev)
				return ev
			}
			for range tc.initN {
				h = append(h, mk())
			}
			h.init()
			for range tc.pushN {
				h.push(mk())
			}
			slices.SortFunc(all, func(a, b endEvent) int {
				return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id))
			})
			for i, want := range all {
				if got := h.pop(); got != want {
					t.Fatalf("pop %d = %+v, want %+v", i, got, want)
				}
			}
			if len(h) != 0 {
				t.Fatalf("%d events left", len(h))
			}
		})
	}
}
