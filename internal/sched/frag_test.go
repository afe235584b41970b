package sched

import (
	"math"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

func freeNode(model string, cpu, mem int64, free ...core.Milli) NodeFree {
	return NodeFree{Model: model, Free: free, CPUMilli: cpu, MemMiB: mem}
}

func TestFits(t *testing.T) {
	n := freeNode("V100M16", 8000, 32768, 1000, 300, 0)
	cases := map[string]struct {
		r    NodeRequest
		want bool
	}{
		"share on the partial device": {NodeRequest{Devices: 1, PerDevice: 250, CPUMilli: 1000}, true},
		"one whole device":            {NodeRequest{Devices: 1, PerDevice: 1000}, true},
		"two whole devices":           {NodeRequest{Devices: 2, PerDevice: 1000}, false},
		"model list matches":          {NodeRequest{Devices: 1, PerDevice: 500, Model: "V100M32|V100M16"}, true},
		"model prefix is no match":    {NodeRequest{Devices: 1, PerDevice: 500, Model: "V100M1"}, false},
		"too much CPU":                {NodeRequest{Devices: 1, PerDevice: 100, CPUMilli: 9000}, false},
		"too much memory":             {NodeRequest{MemMiB: 40000}, false},
		"host only":                   {NodeRequest{CPUMilli: 8000, MemMiB: 32768}, true},
	}
	for name, c := range cases {
		if got := n.Fits(c.r); got != c.want {
			t.Errorf("%s: Fits = %v, want %v", name, got, c.want)
		}
	}
}

func TestFragmentation(t *testing.T) {
	// Mix: half the requests want 0.5 of a device, half one whole device.
	m := RequestMix{
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 500, CPUMilli: 1000}, Weight: 0.5},
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 1000, CPUMilli: 1000}, Weight: 0.5},
	}
	cases := []struct {
		name string
		n    NodeFree
		want float64
	}{
		// 0.3 free is useless to both types; 1.0 serves both.
		{"sliver and whole", freeNode("A", 8000, 1, 1000, 300), 300},
		// 0.6 serves the half requests only: wasted for the whole ones.
		{"part device", freeNode("A", 8000, 1, 600), 0.5 * 600},
		// Without CPU every free accelerator is stranded.
		{"no CPU left", freeNode("A", 500, 1, 1000, 1000), 2000},
		{"full node", freeNode("A", 8000, 1, 0, 0), 0},
	}
	for _, c := range cases {
		if got := m.Fragmentation(&c.n); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: fragmentation %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMixOf(t *testing.T) {
	reqs := []NodeRequest{
		{Devices: 1, PerDevice: 250, CPUMilli: 4000},
		{Devices: 1, PerDevice: 250, CPUMilli: 4000},
		{Devices: 1, PerDevice: 250, CPUMilli: 4000},
		{Devices: 8, PerDevice: 1000, CPUMilli: 64000},
		{CPUMilli: 2000}, // host only: not in the mix
	}
	m := MixOf(reqs, FGDMix)
	if len(m) != 2 || m[0].PerDevice != 250 || math.Abs(m[0].Weight-0.75) > 1e-12 {
		t.Fatalf("FGD mix = %+v", m)
	}
	// Weighted by sqrt(accelerators): 3 x sqrt(0.25) = 1.5 vs sqrt(8) = 2.83.
	g := MixOf(reqs, GigafactoryMix)
	if g[0].Devices != 8 || math.Abs(g[0].Weight-math.Sqrt(8)/(math.Sqrt(8)+1.5)) > 1e-12 {
		t.Fatalf("demand-weighted mix = %+v", g)
	}
	if c := MixOf(reqs, MixOptions{Coverage: 0.5}); len(c) != 1 {
		t.Fatalf("coverage 0.5 kept %d types", len(c))
	}
}

func TestBestFitAndFragAware(t *testing.T) {
	// A 0.5 request. Node 0 has a device with 0.6 free (leaving a useless
	// 0.1); node 1 a device with 0.5 free (a perfect fit); node 2 is empty.
	nodes := []NodeFree{
		freeNode("A", 8000, 1<<20, 600, 0),
		freeNode("A", 8000, 1<<20, 0, 500),
		freeNode("A", 8000, 1<<20, 1000, 1000),
	}
	r := NodeRequest{Devices: 1, PerDevice: 500, CPUMilli: 1000}
	c, ok := BestFit(nodes, r)
	if !ok || c.Node != 1 || c.Devices[0] != 1 {
		t.Fatalf("BestFit = %+v", c)
	}
	mix := RequestMix{{NodeRequest: NodeRequest{Devices: 1, PerDevice: 500, CPUMilli: 1000}, Weight: 1}}
	c, ok = FragAware(nodes, r, mix)
	if !ok || c.Node != 1 || c.Score != 0 {
		t.Fatalf("FragAware = %+v, want the perfect fit on node 1", c)
	}

	// Where best fit and fragmentation disagree: a 0.25 request. Node 0's
	// 0.6 is the tighter fit but leaves 0.35, useless to the mix's 0.5
	// requests; node 1 keeps 0.75 and a whole device, both usable.
	nodes = []NodeFree{
		freeNode("A", 8000, 1<<20, 600),
		freeNode("A", 8000, 1<<20, 1000, 1000),
	}
	r = NodeRequest{Devices: 1, PerDevice: 250}
	if c, _ := BestFit(nodes, r); c.Node != 0 {
		t.Fatalf("BestFit chose node %d, want the tight fit", c.Node)
	}
	c, _ = FragAware(nodes, r, mix)
	if c.Node != 1 || c.Score != 0 {
		t.Fatalf("FragAware = %+v, want node 1 at no fragmentation cost", c)
	}
	// Filling a sliver that was already waste lowers fragmentation.
	nodes = append(nodes, freeNode("A", 8000, 1<<20, 300))
	c, _ = FragAware(nodes, r, mix)
	if c.Node != 2 || c.Score != -250 {
		t.Fatalf("FragAware = %+v, want the 0.3 sliver (fragmentation -250)", c)
	}

	// Nothing fits.
	if _, ok := FragAware(nodes, NodeRequest{Devices: 3, PerDevice: 1000}, mix); ok {
		t.Fatal("placed a request that fits nowhere")
	}
}

// The index gives the same choices as FragAware while nodes change.
func TestFragIndexMatchesFragAware(t *testing.T) {
	mk := func() []NodeFree {
		var ns []NodeFree
		for i := 0; i < 12; i++ {
			ns = append(ns, freeNode([]string{"A", "B"}[i%2], int64(16000+i*1000), 1<<16, 1000, 1000, 1000, 1000))
		}
		return ns
	}
	reqs := []NodeRequest{
		{Devices: 1, PerDevice: 460, CPUMilli: 2000}, {Devices: 1, PerDevice: 1000, CPUMilli: 4000},
		{Devices: 2, PerDevice: 1000, CPUMilli: 8000, Model: "B"}, {Devices: 1, PerDevice: 230, CPUMilli: 1000},
		{CPUMilli: 3000},
	}
	mix := MixOf(reqs, GigafactoryMix)
	plain, idx := mk(), NewFragIndex(mk(), mix)
	for i := 0; i < 60; i++ {
		r := reqs[(i*7)%len(reqs)]
		a, okA := FragAware(plain, r, mix)
		b, okB := idx.Choose(r)
		if okA != okB || a.Node != b.Node || len(a.Devices) != len(b.Devices) || (okA && len(a.Devices) > 0 && a.Devices[0] != b.Devices[0]) {
			t.Fatalf("step %d: FragAware %+v/%v, index %+v/%v", i, a, okA, b, okB)
		}
		if !okA {
			continue
		}
		plain[a.Node].Take(r, a.Devices)
		idx.Take(b, r)
		for _, n := range plain {
			for _, f := range n.Free {
				if f < 0 || n.CPUMilli < 0 {
					t.Fatalf("over-allocation: %+v", n)
				}
			}
		}
	}
	idx.Release(NodeChoice{Node: 0, Devices: []int{0}}, NodeRequest{Devices: 1, PerDevice: 0})
}

func TestFragAwareTuned(t *testing.T) {
	nodes := []NodeFree{
		{Free: []core.Milli{500, 1000, 1000}, CPUMilli: 8000, MemMiB: 1000},
		{Free: []core.Milli{1000, 1000}, CPUMilli: 8000, MemMiB: 1000},
	}
	r := NodeRequest{Devices: 1, PerDevice: 500, CPUMilli: 1000}
	mix := MixOf([]NodeRequest{r}, FGDMix)
	// Every change within the tie band: the tighter node wins...
	c, ok := FragAwareTuned(nodes, r, mix, FragTuning{Tie: 1e9})
	if !ok || c.Node != 1 {
		t.Fatalf("node-first ladder chose %+v", c)
	}
	// ...unless the devices' fit comes first: the half-used device.
	c, ok = FragAwareTuned(nodes, r, mix, FragTuning{Tie: 1e9, DeviceFirst: true})
	if !ok || c.Node != 0 || c.Devices[0] != 0 {
		t.Fatalf("device-first ladder chose %+v", c)
	}
	// The zero tuning is FragAware.
	a, _ := FragAware(nodes, r, mix)
	b, _ := FragAwareTuned(nodes, r, mix, FragTuning{})
	if a.Node != b.Node || a.Devices[0] != b.Devices[0] {
		t.Fatalf("FragAware %+v, zero tuning %+v", a, b)
	}
}

func TestFillWaste(t *testing.T) {
	mix := RequestMix{
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 470, CPUMilli: 8000}, Weight: 0.5},
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 1000, CPUMilli: 12000}, Weight: 0.5},
	}
	w := mix.FillWaste(nil)
	// 190 free: nothing fits. 530: a 0.47 leaves 60. A fresh device: half
	// the time a whole pod (0 left), half the time 0.47 twice (60 left).
	for f, want := range map[int]float64{0: 0, 190: 190, 469: 469, 530: 60, 940: 0, 1000: 30} {
		if math.Abs(w[f]-want) > 1e-9 {
			t.Errorf("FillWaste[%d] = %v, want %v", f, w[f], want)
		}
	}
	// A node whose CPU hosts only the 0.47 type: a fresh device wastes 60.
	n := freeNode("", 10000, 1<<20, 1000, 530, 190)
	if got, want := mix.NodeFillWaste(&n), 60.0+60+190; math.Abs(got-want) > 1e-9 {
		t.Errorf("NodeFillWaste = %v, want %v", got, want)
	}
	n.CPUMilli = 1000 // nothing fits: every free thousandth is waste
	if got, want := mix.NodeFillWaste(&n), 1720.0; got != want {
		t.Errorf("NodeFillWaste without CPU = %v, want %v", got, want)
	}
}

// The fill term tells apart placements FGD scores alike: a 0.2 share on a
// 0.8 hole leaves 0.6 (two 0.3 pods fill it exactly), on a 0.7 hole 0.5
// (a 0.3 pod leaves 0.2 that nothing fills).
func TestFragAwareFillWeight(t *testing.T) {
	mix := RequestMix{
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 300}, Weight: 0.5},
		{NodeRequest: NodeRequest{Devices: 1, PerDevice: 1000}, Weight: 0.5},
	}
	nodes := []NodeFree{freeNode("", 8000, 1000, 800), freeNode("", 8000, 1000, 700)}
	r := NodeRequest{Devices: 1, PerDevice: 200}
	if c, ok := FragAwareTuned(nodes, r, mix, FragTuning{}); !ok || c.Node != 1 {
		t.Fatalf("FGD tie should go to the tighter node: %+v", c)
	}
	if c, ok := FragAwareTuned(nodes, r, mix, FragTuning{FillWeight: 1}); !ok || c.Node != 0 {
		t.Fatalf("fill term chose %+v, want node 0", c)
	}
}

// The index's FillWaste cache gives the same choices as the uncached call.
func TestFragIndexFillMatchesTuned(t *testing.T) {
	mk := func() []NodeFree {
		var ns []NodeFree
		for i := 0; i < 10; i++ {
			ns = append(ns, freeNode("", int64(12000+i*3000), 1<<16, 1000, 1000, 1000, 1000))
		}
		return ns
	}
	reqs := []NodeRequest{
		{Devices: 1, PerDevice: 810, CPUMilli: 3000}, {Devices: 1, PerDevice: 1000, CPUMilli: 11000},
		{Devices: 1, PerDevice: 470, CPUMilli: 12000}, {Devices: 1, PerDevice: 160, CPUMilli: 4000},
		{Devices: 2, PerDevice: 1000, CPUMilli: 16000}, {CPUMilli: 8000},
	}
	mix := MixOf(reqs, GigafactoryPlaceMix)
	plain, idx := mk(), NewFragIndex(mk(), mix)
	idx.Tuning = GigafactoryTuning
	for i := 0; i < 80; i++ {
		r := reqs[(i*5)%len(reqs)]
		a, okA := FragAwareTuned(plain, r, mix, GigafactoryTuning)
		b, okB := idx.Choose(r)
		if okA != okB || a.Node != b.Node || len(a.Devices) != len(b.Devices) || (okA && len(a.Devices) > 0 && a.Devices[0] != b.Devices[0]) {
			t.Fatalf("step %d: FragAwareTuned %+v/%v, index %+v/%v", i, a, okA, b, okB)
		}
		if okA {
			plain[a.Node].Take(r, a.Devices)
			idx.Take(b, r)
		}
	}
}
