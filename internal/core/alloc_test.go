package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAllocationPools: an allocation names one pool, or lists the pools
// of a gang across them; a node's name says its pool.
func TestAllocationPools(t *testing.T) {
	cases := map[string]struct {
		a     *Allocation
		pools []string
		first string
	}{
		"nil":                 {a: nil},
		"no pool":             {a: &Allocation{Site: "s"}},
		"one pool":            {a: &Allocation{Pool: "gpu"}, pools: []string{"gpu"}, first: "gpu"},
		"a gang across pools": {a: &Allocation{Pool: "train,train-2"}, pools: []string{"train", "train-2"}, first: "train"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.pools, tc.a.Pools()); diff != "" {
				t.Errorf("Pools (-want +got):\n%s", diff)
			}
			if got := tc.a.FirstPool(); got != tc.first {
				t.Errorf("FirstPool = %q, want %q", got, tc.first)
			}
		})
	}
	for node, want := range map[string]string{"gpu-0007": "gpu", "train-2-10000": "train-2", "node": ""} {
		if got := NodePool(node); got != want {
			t.Errorf("NodePool(%q) = %q, want %q", node, got, want)
		}
	}
}
