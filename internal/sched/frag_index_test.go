package sched

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// fragWorld draws a small cluster of mixed models and device counts and a
// set of request classes (shares, whole and multi-device, host-only, some
// pinned to models) from a seed.
func fragWorld(seed uint64) ([]NodeFree, []NodeRequest) {
	rng := rand.New(rand.NewPCG(seed, 1))
	models := []string{"A", "B", "C"}
	var nodes []NodeFree
	for i := 0; i < 24+rng.IntN(16); i++ {
		devs := []int{1, 2, 4, 8}[rng.IntN(4)]
		free := make([]core.Milli, devs)
		for d := range free {
			free[d] = 1000
		}
		nodes = append(nodes, NodeFree{Model: models[rng.IntN(len(models))], Free: free,
			CPUMilli: int64(16+rng.IntN(48)) * 1000, MemMiB: int64(64+rng.IntN(192)) * 1024})
	}
	shares := []core.Milli{100, 250, 300, 460, 500, 810, 1000}
	specs := []string{"", "", "", "A", "B|C", "C|A"}
	var reqs []NodeRequest
	for range 12 + rng.IntN(10) {
		r := NodeRequest{Devices: 1, PerDevice: shares[rng.IntN(len(shares))],
			CPUMilli: int64(1+rng.IntN(12)) * 1000, MemMiB: int64(1+rng.IntN(48)) * 1024, Model: specs[rng.IntN(len(specs))]}
		switch rng.IntN(6) {
		case 0:
			r.Devices, r.PerDevice = 1+rng.IntN(8), 1000
		case 1:
			r.Devices, r.PerDevice, r.Model = 0, 0, ""
		}
		reqs = append(reqs, r)
	}
	return nodes, reqs
}

func cloneFree(ns []NodeFree) []NodeFree {
	out := slices.Clone(ns)
	for i := range out {
		out[i].Free = slices.Clone(ns[i].Free)
	}
	return out
}

// The scorer's fragmentation is RequestMix.Fragmentation's to the bit, on
// every model, share and CPU/memory level, first computed and then from
// the memo.
func TestFragScorerEqualsFragmentation(t *testing.T) {
	for seed := range uint64(20) {
		nodes, reqs := fragWorld(seed)
		rng := rand.New(rand.NewPCG(seed, 2))
		for _, opts := range []MixOptions{FGDMix, GigafactoryMix, GigafactoryPlaceMix} {
			m := MixOf(reqs, opts)
			x := NewFragIndex(cloneFree(nodes), m)
			x.prepare()
			for i := range x.Nodes {
				n := &x.Nodes[i]
				for d := range n.Free {
					n.Free[d] = core.Milli(rng.IntN(11)) * 100
				}
				n.CPUMilli, n.MemMiB = int64(rng.IntN(20))*1000, int64(rng.IntN(64))*1024
				want := math.Float64bits(m.Fragmentation(n))
				for pass := range 2 {
					if got := math.Float64bits(x.scorer.frag(n, x.modelID[i])); got != want {
						t.Fatalf("seed %d %+v pass %d node %+v: scorer %v, Fragmentation %v", seed, opts, pass,
							*n, math.Float64frombits(got), math.Float64frombits(want))
					}
				}
				if got, want := x.fillNode(n, x.modelID[i]), m.NodeFillWaste(n); math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("seed %d node %+v: fillNode %v, NodeFillWaste %v", seed, *n, got, want)
				}
			}
		}
	}
}

// A FragIndex's choices, scores included, are FragAwareTuned's to the bit
// over random sequences of placements and departures, for plain FGD and
// tuned mixes, and again after Reset onto a fresh copy of the cluster; and
// the fragmentation it keeps per node equals a full recomputation.
func TestFragIndexEqualsFragAware(t *testing.T) {
	tunings := map[string]FragTuning{
		"fgd":         {},
		"gigafactory": GigafactoryTuning,
		"wide tie":    {Tie: 200, NodeLeftWeight: 0.05},
		"fill only":   {FillWeight: 1, DeviceFirst: true},
	}
	for name, tuning := range tunings {
		for seed := range uint64(12) {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				nodes, reqs := fragWorld(seed)
				m := MixOf(reqs, GigafactoryPlaceMix)
				if seed%2 == 1 {
					m = MixOf(reqs, FGDMix)
				}
				rng := rand.New(rand.NewPCG(seed, 3))
				idx := NewFragIndex(cloneFree(nodes), m)
				idx.Tuning = tuning
				for round := range 2 {
					plain := cloneFree(nodes)
					if round > 0 {
						idx.Reset(cloneFree(nodes))
					}
					type placed struct {
						c NodeChoice
						r NodeRequest
					}
					var live []placed
					for step := range 300 {
						if len(live) > 0 && rng.IntN(4) == 0 { // a departure
							k := rng.IntN(len(live))
							p := live[k]
							live = slices.Delete(live, k, k+1)
							idx.Release(p.c, p.r)
							n := &plain[p.c.Node]
							n.CPUMilli += p.r.CPUMilli
							n.MemMiB += p.r.MemMiB
							for _, d := range p.c.Devices {
								n.Free[d] += p.r.PerDevice
							}
							continue
						}
						r := reqs[rng.IntN(len(reqs))]
						want, okW := FragAwareTuned(plain, r, m, tuning)
						got, okG := idx.Choose(r)
						if okW != okG || want.Node != got.Node || !slices.Equal(want.Devices, got.Devices) ||
							math.Float64bits(want.Score) != math.Float64bits(got.Score) {
							t.Fatalf("round %d step %d %+v: FragAwareTuned %+v/%v, index %+v/%v", round, step, r, want, okW, got, okG)
						}
						if !okW {
							continue
						}
						plain[want.Node].Take(r, want.Devices)
						idx.Take(got, r)
						live = append(live, placed{got, r})
					}
					for i := range plain {
						if !slices.Equal(plain[i].Free, idx.Nodes[i].Free) || plain[i].CPUMilli != idx.Nodes[i].CPUMilli {
							t.Fatalf("node %d: plain %+v, index %+v", i, plain[i], idx.Nodes[i])
						}
						if b := idx.before[i]; !math.IsNaN(b) && math.Float64bits(b) != math.Float64bits(m.Fragmentation(&plain[i])) {
							t.Fatalf("node %d: kept fragmentation %v, recomputed %v", i, b, m.Fragmentation(&plain[i]))
						}
						if fb := idx.fillBefore[i]; !math.IsNaN(fb) && math.Float64bits(fb) != math.Float64bits(m.NodeFillWaste(&plain[i])) {
							t.Fatalf("node %d: kept fill waste %v, recomputed %v", i, fb, m.NodeFillWaste(&plain[i]))
						}
					}
				}
			})
		}
	}
}

// Changing the mix or the tuning after a Choose drops what was kept: the
// choices follow the new ones.
func TestFragIndexFollowsMixAndTuning(t *testing.T) {
	nodes, reqs := fragWorld(5)
	a, b := MixOf(reqs, FGDMix), MixOf(reqs[:3], GigafactoryPlaceMix)
	idx := NewFragIndex(cloneFree(nodes), a)
	for _, r := range reqs {
		idx.Choose(r)
	}
	for _, step := range []struct {
		m RequestMix
		t FragTuning
	}{{b, FragTuning{}}, {b, GigafactoryTuning}, {a, GigafactoryTuning}} {
		idx.RequestMix, idx.Tuning = step.m, step.t
		for _, r := range reqs {
			want, okW := FragAwareTuned(nodes, r, step.m, step.t)
			got, okG := idx.Choose(r)
			if okW != okG || want.Node != got.Node || math.Float64bits(want.Score) != math.Float64bits(got.Score) {
				t.Fatalf("%+v: FragAwareTuned %+v, index %+v", r, want, got)
			}
		}
	}
}

// Nodes of more than 64 devices take the uncached path, with the same
// choices.
func TestFragIndexWideNodes(t *testing.T) {
	wide := make([]core.Milli, 80)
	for d := range wide {
		wide[d] = 1000
	}
	nodes := []NodeFree{freeNode("", 1<<20, 1<<20, wide...), freeNode("", 64000, 1<<20, 1000, 1000)}
	r := NodeRequest{Devices: 1, PerDevice: 500, CPUMilli: 1000}
	m := MixOf([]NodeRequest{r, {Devices: 2, PerDevice: 1000}}, FGDMix)
	idx := NewFragIndex(cloneFree(nodes), m)
	for range 5 {
		want, _ := FragAware(nodes, r, m)
		got, ok := idx.Choose(r)
		if !ok || want.Node != got.Node || !slices.Equal(want.Devices, got.Devices) {
			t.Fatalf("FragAware %+v, index %+v", want, got)
		}
		nodes[want.Node].Take(r, want.Devices)
		idx.Take(got, r)
	}
}

// bestFitReference is BestFit as it was before it used device masks:
// fragCandidates' device lists, one allocation per better candidate.
func bestFitReference(nodes []NodeFree, r NodeRequest) (c NodeChoice, ok bool) {
	var best fragFit
	for i := range nodes {
		n := &nodes[i]
		if !n.Fits(r) {
			continue
		}
		for _, devs := range fragCandidates(n, r, nil) {
			f := fragFitOf(n, r, devs)
			if !ok || f.less(best) {
				c, best, ok = NodeChoice{Node: i, Devices: append([]int(nil), devs...), Score: float64(f.nodeLeft)}, f, true
			}
		}
	}
	return c, ok
}

// BestFit chooses as the reference over random placement sequences, on
// clusters with and without a node of more than 64 devices.
func TestBestFitMatchesReference(t *testing.T) {
	for seed := range uint64(16) {
		nodes, reqs := fragWorld(seed)
		if seed%4 == 0 {
			wide := make([]core.Milli, 72)
			for d := range wide {
				wide[d] = 1000
			}
			nodes = append(nodes, freeNode("A", 1<<20, 1<<22, wide...))
		}
		rng := rand.New(rand.NewPCG(seed, 4))
		for step := range 400 {
			r := reqs[rng.IntN(len(reqs))]
			want, okW := bestFitReference(nodes, r)
			got, okG := BestFit(nodes, r)
			if okW != okG || want.Node != got.Node || !slices.Equal(want.Devices, got.Devices) || want.Score != got.Score ||
				(want.Devices == nil) != (got.Devices == nil) {
				t.Fatalf("seed %d step %d %+v: reference %+v/%v, BestFit %+v/%v", seed, step, r, want, okW, got, okG)
			}
			if okW {
				nodes[want.Node].Take(r, want.Devices)
			}
		}
	}
}
