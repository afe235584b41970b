package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// onePool is a cluster of one pool at one active site.
func onePool(tb testing.TB, p core.Pool) *Cluster {
	tb.Helper()
	p.Name, p.Model = "gpu", "h100"
	c, err := NewCluster([]core.Site{{ID: "s", State: core.SiteActive, Pools: []core.Pool{p}}})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// run commits a job of devs whole devices (the lowest free ones) and cpus
// CPUs on node i, expected to end at end.
func run(c *Cluster, i int32, devs int, cpus int32, end int64) {
	p := c.Pools[0]
	pl := Placement{Nodes: []NodeShare{{Node: i, Mask: lowFree(p.nodes[i].used, p.K, devs), CPUs: cpus}}}
	c.Commit(&pl, end)
}

// TestHoldFitsAt: a job placed on held nodes that runs past the holder's
// start may stay only where the holder still fits then.
func TestHoldFitsAt(t *testing.T) {
	type job struct {
		node int32
		devs int
		cpus int32
		end  int64
	}
	req := func(m string) Request {
		r := Request{}
		r.Milli, _ = core.ParseMilli(m)
		return r
	}
	gang := func(nodes int, topo Topology) Request {
		return Request{Milli: core.Milli(nodes*4) * 1000, Nodes: nodes, Topology: topo}
	}
	tests := map[string]struct {
		pool     core.Pool
		running  []job
		hold     []int32
		cand     Request
		candEnd  int64
		reserved Request
		at       int64
		want     bool
	}{
		"the issue: 4 of 8 reserved, 6 end in time, 2 stay": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: req("4"), at: 100, want: true,
		},
		"6 reserved: exactly what is left": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: req("6"), at: 100, want: true,
		},
		"7 reserved: one too few": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: req("7"), at: 100, want: false,
		},
		"a running job that ends late counts": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 4, 0, 100}, {0, 2, 0, 300}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: req("5"), at: 100, want: false,
		},
		"the candidate ends by then": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 100, reserved: req("8"), at: 100, want: true,
		},
		"a fraction takes a device of its own": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("0.25"), candEnd: 200, reserved: req("8"), at: 100, want: false,
		},
		"a fraction reserved needs one device": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8}, running: []job{{0, 6, 0, 100}}, hold: []int32{0},
			cand: req("1"), candEnd: 200, reserved: req("0.5"), at: 100, want: true,
		},
		"a gang needs its nodes whole": {
			pool: core.Pool{Nodes: 2, AccelPerNode: 4}, running: []job{{0, 4, 0, 100}}, hold: []int32{0, 1},
			cand: req("1"), candEnd: 200, reserved: gang(2, TopoPreferred), at: 100, want: false,
		},
		"a gang with a node to spare": {
			pool: core.Pool{Nodes: 3, AccelPerNode: 4}, running: []job{{0, 4, 0, 100}}, hold: []int32{0, 1, 2},
			cand: req("1"), candEnd: 200, reserved: gang(2, TopoPreferred), at: 100, want: true,
		},
		// Blocks {0,1} and {2,3}; the candidate takes node 1, the only
		// node of block 0 besides node 0.
		"a gang confined to a block loses its block": {
			pool: core.Pool{Nodes: 4, AccelPerNode: 4, NodesPerBlock: 2}, running: []job{{0, 4, 0, 100}}, hold: []int32{0, 1, 2},
			cand: req("4"), candEnd: 200, reserved: gang(2, TopoBlock), at: 100, want: false,
		},
		"the same gang anywhere": {
			pool: core.Pool{Nodes: 4, AccelPerNode: 4, NodesPerBlock: 2}, running: []job{{0, 4, 0, 100}}, hold: []int32{0, 1, 2},
			cand: req("4"), candEnd: 200, reserved: gang(2, TopoAny), at: 100, want: true,
		},
		// 40 CPUs held now + 16 for the candidate (its share of the node)
		// + 16 for the holder (4 per accelerator) > 64: judged as if the
		// running job had not ended, so refused.
		"a holder that asks for CPUs": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8, CPUsPerNode: 64}, running: []job{{0, 6, 40, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: Request{Milli: 4000, CPUsPerAccel: 4}, at: 100, want: false,
		},
		"a holder that asks for no CPUs": {
			pool: core.Pool{Nodes: 1, AccelPerNode: 8, CPUsPerNode: 64}, running: []job{{0, 6, 40, 100}}, hold: []int32{0},
			cand: req("2"), candEnd: 200, reserved: req("4"), at: 100, want: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := onePool(t, tc.pool)
			for _, j := range tc.running {
				run(c, j.node, j.devs, j.cpus, j.end)
			}
			h := c.NewHold(0, tc.hold)
			pl, ok := c.PlaceOn(&tc.cand, h)
			if !ok {
				t.Fatal("the candidate does not fit the held nodes now")
			}
			if got := h.FitsAt(&tc.reserved, tc.at, &pl, tc.candEnd); got != tc.want {
				t.Fatalf("FitsAt = %v, want %v (candidate on %+v)", got, tc.want, pl.Nodes)
			}
		})
	}
}

// TestHoldFitsAtMatchesCommit: FitsAt, which leaves the cluster alone,
// answers as the plain way does: commit the candidate, ask each held node
// when it has the holder's devices free (HeldAt), release it. A hold
// with nothing to Spare never takes a candidate that runs past at, and
// Full says whether PlaceOn can place a device.
func TestHoldFitsAtMatchesCommit(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 6))
	checked := map[bool]int{}
	for iter := range 3000 {
		k := []int{1, 4, 8}[r.IntN(3)]
		nodes := 1 + r.IntN(6)
		c := onePool(t, core.Pool{Nodes: nodes, AccelPerNode: k, NodesPerBlock: 1 + r.IntN(3)})
		p := c.Pools[0]
		for i := range nodes {
			for free := k; free > 0 && r.IntN(3) > 0; {
				d := 1 + r.IntN(free)
				run(c, int32(i), d, 0, int64(1+r.IntN(6)*50))
				free -= d
			}
		}
		var held []int32
		for i := range nodes {
			if r.IntN(2) == 0 {
				held = append(held, int32(i))
			}
		}
		h := c.NewHold(0, held)
		cand := Request{Milli: core.Milli(1+r.IntN(k)) * 1000}
		if r.IntN(4) == 0 {
			cand.Milli = 500
		}
		if r.IntN(5) == 0 && nodes > 1 {
			cand = Request{Milli: core.Milli(2*k) * 1000, Nodes: 2}
		}
		if _, ok := c.PlaceOn(&Request{Milli: 1000}, h); ok == h.Full() {
			t.Fatalf("case %d: Full() = %v, yet a device can be placed: %v", iter, h.Full(), ok)
		}
		pl, ok := c.PlaceOn(&cand, h)
		if !ok {
			continue
		}
		var res Request
		switch r.IntN(3) {
		case 0:
			n := 1 + r.IntN(nodes)
			res = Request{Milli: core.Milli(n*k) * 1000, Nodes: n, Topology: []Topology{TopoPreferred, TopoBlock, TopoAny}[r.IntN(3)]}
			if n == 1 {
				res.Nodes = 0
			}
		case 1:
			res = Request{Milli: 250}
		default:
			res = Request{Milli: core.Milli(1+r.IntN(k)) * 1000}
		}
		at, end := int64(r.IntN(6)*50), int64(r.IntN(8)*50)
		got := h.FitsAt(&res, at, &pl, end)
		if got && end > at && !h.Spare(&res) {
			t.Fatalf("case %d: FitsAt for a candidate past %d on a hold with nothing to spare (%v for %+v)", iter, at, h.Nodes, res)
		}

		c.Commit(&pl, end)
		n, w := res.nodesIn(p), p.K
		if n == 0 {
			n, w = 1, res.Milli.Whole()
		}
		perBlock := map[int]int{}
		total, most := 0, 0
		for _, i := range h.Nodes {
			if p.HeldAt(int(i), w) <= at {
				total++
				perBlock[p.BlockOf(int(i))]++
				most = max(most, perBlock[p.BlockOf(int(i))])
			}
		}
		want := total >= n
		if res.nodesIn(p) > 0 && res.Topology == TopoBlock {
			want = most >= n
		}
		c.Release(&pl)
		if got != want {
			t.Fatalf("case %d: %d nodes of %d, held %v, candidate %+v until %d, holder %+v at %d: FitsAt %v, by commit %v",
				iter, nodes, k, held, pl.Nodes, end, res, at, got, want)
		}
		checked[got]++
	}
	if checked[true] < 100 || checked[false] < 100 {
		t.Fatalf("too few cases each way: %v", checked)
	}
	t.Log(fmt.Sprint(checked))
}
