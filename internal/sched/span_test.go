package sched

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// spanSite is one site of three pools: a and b of model x (4 per node),
// c of model y (4 per node).
func spanSite(driver string) []core.Site {
	return []core.Site{{ID: "s", State: core.SiteActive, Driver: driver, Pools: []core.Pool{
		{Name: "a", Model: "x", AccelPerNode: 4, Nodes: 8, NodesPerBlock: 2, BlocksPerPod: 2},
		{Name: "b", Model: "x", AccelPerNode: 4, Nodes: 4, NodesPerBlock: 2, BlocksPerPod: 1},
		{Name: "c", Model: "y", AccelPerNode: 4, Nodes: 8, NodesPerBlock: 2, BlocksPerPod: 2},
	}}}
}

func TestPlaceSpan(t *testing.T) {
	cases := map[string]struct {
		driver string
		req    Request
		pool   string // the allocation's Pool; "" when it does not fit
		nodes  int
		miss   string
	}{
		"one pool holds it: no span": {
			req: Request{Milli: 32000, Models: []string{"x"}}, pool: "a", nodes: 8,
		},
		"twelve nodes of x: a and b": {
			req: Request{Milli: 48000}, pool: "a,b", nodes: 12,
		},
		"explicit node count spans too": {
			req: Request{Milli: 40000, Nodes: 10, Models: []string{"x"}}, pool: "a,b", nodes: 10,
		},
		"models never mix": {
			req:  Request{Milli: 52000},
			miss: "needs 52 accelerators; eligible pools have 80 in all, at most 48 of one model and node size at one site",
		},
		"a required pod never spans": {
			req:  Request{Milli: 32000, Topology: TopoPod},
			miss: "needs 32 accelerators in one pod; a pod holds at most 16",
		},
		"twelve nodes in one pod: no pool has them": {
			req:  Request{Milli: 48000, Topology: TopoPod},
			miss: "needs 48 accelerators; eligible pools have 80 in all",
		},
		"a required block bigger than any block": {
			req:  Request{Milli: 16000, Topology: TopoBlock},
			miss: "needs 16 accelerators in one block; a block holds at most 8",
		},
		"not on a Slurm site": {
			driver: "slurm", req: Request{Milli: 48000},
			miss: "needs 48 accelerators; eligible pools have 80 in all, at most 32 of one model and node size at one site",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := NewCluster(spanSite(tc.driver))
			if err != nil {
				t.Fatal(err)
			}
			pl, miss := c.Place(&tc.req, c.Eligible(&tc.req))
			if tc.pool == "" {
				if miss.Code == MissNone {
					t.Fatalf("placed %+v, want %q", pl, tc.miss)
				}
				if got := miss.String(); got != tc.miss {
					t.Errorf("reason %q, want %q", got, tc.miss)
				}
				return
			}
			if miss.Code != MissNone {
				t.Fatalf("not placed: %s", miss)
			}
			a := c.Allocation(&pl)
			if a.Pool != tc.pool || len(a.Nodes) != tc.nodes {
				t.Errorf("allocation in %q on %d nodes, want %q on %d", a.Pool, len(a.Nodes), tc.pool, tc.nodes)
			}
			for _, na := range a.Nodes {
				if !slices.Contains(a.Pools(), core.NodePool(na.Node)) {
					t.Errorf("node %s not in the allocation's pools %q", na.Node, a.Pool)
				}
			}
			back, err := c.FromAllocation(a)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(pl, back); diff != "" {
				t.Errorf("FromAllocation(Allocation(pl)) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromAllocationSpanRefuses: a node outside the pools listed, or of
// a pool the site lacks, is an error.
func TestFromAllocationSpanRefuses(t *testing.T) {
	c, err := NewCluster(spanSite(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []core.Allocation{
		{Site: "s", Pool: "a,b", Nodes: []core.NodeAlloc{{Node: "c-0001", Accels: []int{0}}}},
		{Site: "s", Pool: "a,z", Nodes: []core.NodeAlloc{{Node: "z-0001", Accels: []int{0}}}},
		{Site: "s", Pool: "a,b", Nodes: []core.NodeAlloc{{Node: "b-0009", Accels: []int{0}}}},
		{Site: "s", Pool: "a,b"},
	} {
		if _, err := c.FromAllocation(a); err == nil {
			t.Errorf("FromAllocation(%+v) accepted", a)
		}
	}
}

// TestSpanProperty drives random sites of several pools of two models
// with random one-node jobs and gangs (many larger than a pool), and
// checks after every placement: no device is held twice, a gang's nodes
// are whole and of one site, model and node size, it fills the fewest
// pods it can and in each pod the fewest blocks, and a gang of every
// node of a model's pools fits exactly when none of them is in use.
func TestSpanProperty(t *testing.T) {
	spans := 0
	defer func() {
		if spans < 20 {
			t.Errorf("%d gangs spanned pools over all seeds: the test exercises too few", spans)
		}
	}()
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			site := core.Site{ID: "s", State: core.SiteActive}
			for i := range 2 + rng.IntN(4) {
				k := []int{4, 8}[rng.IntN(2)]
				site.Pools = append(site.Pools, core.Pool{
					Name: fmt.Sprintf("p%d", i), Model: []string{"x", "y"}[rng.IntN(2)], AccelPerNode: k,
					Nodes: 4 + rng.IntN(40), NodesPerBlock: 1 + rng.IntN(6), BlocksPerPod: 1 + rng.IntN(4),
				})
			}
			c, err := NewCluster([]core.Site{site})
			if err != nil {
				t.Fatal(err)
			}
			held := make([][]uint64, len(c.Pools)) // our own record of what is held
			for i, p := range c.Pools {
				held[i] = make([]uint64, p.Nodes())
			}
			var running []Placement
			for step := range 300 {
				if len(running) > 0 && rng.IntN(3) == 0 {
					k := rng.IntN(len(running))
					pl := running[k]
					c.Release(&pl)
					pl.Parts(func(part *Placement) {
						for _, s := range part.Nodes {
							held[part.Pool][s.Node] &^= s.Mask
						}
					})
					running = append(running[:k], running[k+1:]...)
					continue
				}
				model := []string{"x", "y"}[rng.IntN(2)]
				r := Request{Models: []string{model}}
				if rng.IntN(2) == 0 {
					r.Milli = core.Milli(1+rng.IntN(4)) * 1000
				} else {
					r.Milli = core.Milli(8*(2+rng.IntN(60))) * 1000
				}
				pools := c.Eligible(&r)
				rm := podRoom(c, pools)
				pl, miss := c.Place(&r, pools)
				if miss.Code != MissNone {
					continue
				}
				checkSpan(t, c, &r, &pl, rm)
				if pl.Spans() {
					spans++
				}
				pl.Parts(func(part *Placement) {
					for _, s := range part.Nodes {
						if held[part.Pool][s.Node]&s.Mask != 0 {
							t.Fatalf("step %d: device of %s node %d held twice", step, c.Pools[part.Pool].Name, s.Node)
						}
						held[part.Pool][s.Node] |= s.Mask
					}
				})
				if got, want := pl.Milli(), core.Milli(r.Devices(c.Pools[pl.Pool]))*1000; got != want {
					t.Fatalf("step %d: placement holds %s, want %s", step, got, want)
				}
				c.Commit(&pl, 0)
				running = append(running, pl)
			}
			// A gang of every node of each group fits exactly when the
			// group is idle.
			for _, model := range []string{"x", "y"} {
				for k, idle := range wholeGroups(c, held, model) {
					n := 0
					for _, p := range c.Pools {
						if p.Model == model && p.K == k {
							n += p.Nodes()
						}
					}
					r := Request{Milli: core.Milli(n*k) * 1000, Nodes: n, Models: []string{model}}
					pools := slices.DeleteFunc(c.Eligible(&r), func(pi int) bool { return c.Pools[pi].K != k })
					_, miss := c.Place(&r, pools)
					if (miss.Code == MissNone) != idle {
						t.Errorf("whole %s/%d gang of %d nodes: placed %v, group idle %v (%s)", model, k, n, miss.Code == MissNone, idle, miss)
					}
				}
			}
		})
	}
}

// wholeGroups reports, per node size of model's pools, whether none of
// their devices is held.
func wholeGroups(c *Cluster, held [][]uint64, model string) map[int]bool {
	out := map[int]bool{}
	for i, p := range c.Pools {
		if p.Model != model {
			continue
		}
		if _, ok := out[p.K]; !ok {
			out[p.K] = true
		}
		for _, m := range held[i] {
			if m != 0 {
				out[p.K] = false
			}
		}
	}
	return out
}

// podRoom is, before a placement, the free whole nodes of every pod and
// block of pools, for checkSpan.
type room struct {
	pod   map[[2]int]int // (pool, pod) → free whole nodes
	block map[[2]int]int // (pool, block) → free whole nodes
}

func podRoom(c *Cluster, pools []int) room {
	rm := room{pod: map[[2]int]int{}, block: map[[2]int]int{}}
	for _, pi := range pools {
		p := c.Pools[pi]
		for i := range p.Nodes() {
			if p.isWhole(i) && p.nodes[i].hs == nil {
				b := p.BlockOf(i)
				rm.block[[2]int{pi, b}]++
				rm.pod[[2]int{pi, b / p.BlocksPerPod}]++
			}
		}
	}
	return rm
}

// fewest is the fewest units of rooms that hold n: the fullest first.
func fewest(rooms []int, n int) int {
	slices.Sort(rooms)
	slices.Reverse(rooms)
	k := 0
	for _, w := range rooms {
		if n <= 0 {
			break
		}
		n -= w
		k++
	}
	return k
}

func checkSpan(t *testing.T, c *Cluster, r *Request, pl *Placement, rm room) {
	t.Helper()
	first := c.Pools[pl.Pool]
	gang := r.nodesIn(first) > 0
	pods := map[[2]int]int{}
	blocks := map[[2]int]bool{}
	nodes := 0
	pl.Parts(func(part *Placement) {
		p := c.Pools[part.Pool]
		if p.Site != first.Site || p.Model != first.Model || p.K != first.K {
			t.Fatalf("placement mixes %s/%s×%d with %s/%s×%d", first.Name, first.Model, first.K, p.Name, p.Model, p.K)
		}
		if !slices.Contains(r.Models, p.Model) {
			t.Fatalf("placed on model %s, asked %v", p.Model, r.Models)
		}
		for _, s := range part.Nodes {
			if gang && (bits.OnesCount64(s.Mask) != p.K || !p.isWhole(int(s.Node))) {
				t.Fatalf("gang on a node of %s not whole: %d", p.Name, s.Node)
			}
			pods[[2]int{part.Pool, p.BlockOf(int(s.Node)) / p.BlocksPerPod}]++
			blocks[[2]int{part.Pool, p.BlockOf(int(s.Node))}] = true
			nodes++
		}
	})
	if !pl.Spans() {
		return
	}
	if r.Topology == TopoBlock || r.Topology == TopoPod {
		t.Fatalf("a required %s spans pools", r.Topology)
	}
	var free []int
	for k, w := range rm.pod {
		if p := c.Pools[k[0]]; p.Model == first.Model && p.K == first.K {
			free = append(free, w)
		}
	}
	if got, want := len(pods), fewest(free, nodes); got != want {
		t.Errorf("gang of %d nodes across pools fills %d pods, the fewest is %d", nodes, got, want)
	}
	// In each pod, the fewest blocks for the nodes it took there.
	for pod, took := range pods {
		p := c.Pools[pod[0]]
		var bfree []int
		used := 0
		for b := pod[1] * p.BlocksPerPod; b < min((pod[1]+1)*p.BlocksPerPod, p.Blocks()); b++ {
			bfree = append(bfree, rm.block[[2]int{pod[0], b}])
			if blocks[[2]int{pod[0], b}] {
				used++
			}
		}
		if want := fewest(bfree, took); used != want {
			t.Errorf("pod %d of %s: %d nodes on %d blocks, the fewest is %d", pod[1], p.Name, took, used, want)
		}
	}
}
