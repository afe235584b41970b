package sched

import (
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestNodeNamesBySlicing checks NodeName against the names built one by
// one, across the change from 4 to 5 and 6 digits.
func TestNodeNamesBySlicing(t *testing.T) {
	for _, n := range []int{1, 9, 10000, 10001, 123457} {
		c, err := NewCluster([]core.Site{{ID: "s", Country: "FI", State: core.SiteActive,
			Pools: []core.Pool{{Name: "gpu", Model: "h100", Nodes: n, AccelPerNode: 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		p := c.Pools[0]
		for i := -1; i <= n; i++ {
			if got, want := p.NodeName(i), p.nodeName(i); got != want {
				t.Fatalf("%d nodes: node %d named %q, want %q", n, i, got, want)
			}
		}
		if n > 10000 && (p.NodeName(9999) != "gpu-9999" || p.NodeName(10000) != "gpu-10000") {
			t.Fatalf("%d nodes: %q %q", n, p.NodeName(9999), p.NodeName(10000))
		}
	}
}
