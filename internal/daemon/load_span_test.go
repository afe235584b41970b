package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestSpanLoad: a gang across pools counts in each pool its nodes lie in,
// node by node.
func TestSpanLoad(t *testing.T) {
	l := &core.SiteLoad{Pools: []core.PoolLoad{{Name: "train", Nodes: make([]float64, 3)}, {Name: "train-2", Nodes: make([]float64, 2)}}}
	a := &core.Allocation{Site: "s", Pool: "train,train-2", Nodes: []core.NodeAlloc{
		{Node: "train-0002", Accels: []int{0, 1, 2, 3}},
		{Node: "train-2-0001", Accels: []int{0, 1, 2, 3}},
		{Node: "train-2-0000", Accels: []int{0, 1}},
	}}
	spanLoad(l, map[string]int{"train": 0, "train-2": 1}, a, true)
	want := []core.PoolLoad{{Name: "train", InUse: 4, Nodes: []float64{0, 0, 4}}, {Name: "train-2", InUse: 6, Nodes: []float64{2, 4}}}
	if diff := cmp.Diff(want, l.Pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
}
