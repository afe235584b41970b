package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// busyJob is a job of devs devices on one node of a pool, expected to end
// at end.
type busyJob struct {
	pool string
	node int32
	devs int
	end  int64
}

// startBusy commits jobs on c and returns their placements and ends.
func startBusy(t *testing.T, c *Cluster, jobs []busyJob) ([]Placement, []int64) {
	t.Helper()
	var pls []Placement
	var ends []int64
	for _, j := range jobs {
		pi := slices.IndexFunc(c.Pools, func(p *Pool) bool { return p.Name == j.pool })
		if pi < 0 {
			t.Fatalf("no pool %s", j.pool)
		}
		p := c.Pools[pi]
		pl := Placement{Pool: pi, Nodes: []NodeShare{{Node: j.node, Mask: lowFree(p.nodes[j.node].used, p.K, j.devs)}}}
		c.Commit(&pl, j.end)
		pls = append(pls, pl)
		ends = append(ends, j.end)
	}
	return pls, ends
}

// partsOf names the pools and nodes of an Earliest and its More.
func partsOf(c *Cluster, ea Earliest) map[string][]int32 {
	out := map[string][]int32{c.Pools[ea.Pool].Name: ea.Nodes}
	for _, m := range ea.More {
		out[c.Pools[m.Pool].Name] = m.Nodes
	}
	return out
}

// TestEarliestStartSpan: a gang no one pool holds gets an EASY
// reservation across the pools of one site, model and node size: the
// soonest time enough of their nodes are entirely free, on the fewest
// pods; one pool wins a tie, and a required pod or two models never span.
func TestEarliestStartSpan(t *testing.T) {
	cases := map[string]struct {
		busy  []busyJob
		req   Request
		now   int64
		never bool
		at    int64
		parts map[string][]int32
	}{
		"the whole site once the last job ends": {
			busy: []busyJob{{"a", 0, 4, 100}, {"b", 3, 1, 200}},
			req:  Request{Milli: 48000, Models: []string{"x"}},
			at:   200, parts: map[string][]int32{"a": {0, 1, 2, 3, 4, 5, 6, 7}, "b": {0, 1, 2, 3}},
		},
		"ten of twelve: the node free last is left out": {
			busy: []busyJob{{"a", 0, 4, 100}, {"a", 1, 2, 300}, {"b", 3, 4, 200}},
			req:  Request{Milli: 40000, Models: []string{"x"}},
			at:   100, parts: map[string][]int32{"a": {0, 2, 3, 4, 5, 6, 7}, "b": {0, 1, 2}},
		},
		"sooner across pools, on the fewest pods (b's pods hold 2)": {
			busy: []busyJob{{"a", 0, 4, 300}},
			req:  Request{Milli: 32000, Models: []string{"x"}},
			now:  50, at: 50, parts: map[string][]int32{"a": {1, 2, 3, 4, 5, 6, 7}, "b": {0}},
		},
		"one pool wins a tie": {
			busy: []busyJob{{"a", 0, 4, 100}, {"b", 0, 4, 100}, {"b", 1, 4, 100}, {"b", 2, 4, 100}, {"b", 3, 4, 100}},
			req:  Request{Milli: 32000, Models: []string{"x"}},
			at:   100, parts: map[string][]int32{"a": {0, 1, 2, 3, 4, 5, 6, 7}},
		},
		"a required pod never spans": {
			req: Request{Milli: 40000, Models: []string{"x"}, Topology: TopoPod}, never: true,
		},
		"models never mix": {
			req: Request{Milli: 52000}, never: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := NewCluster(spanSite(""))
			if err != nil {
				t.Fatal(err)
			}
			pls, ends := startBusy(t, c, tc.busy)
			ea, ok := c.EarliestStart(&tc.req, c.Eligible(&tc.req), tc.now)
			if tc.never {
				if ok {
					t.Fatalf("reservation %+v, want none", ea)
				}
				return
			}
			if !ok {
				t.Fatal("no reservation")
			}
			if ea.At != tc.at {
				t.Errorf("at %d, want %d", ea.At, tc.at)
			}
			if diff := cmp.Diff(tc.parts, partsOf(c, ea)); diff != "" {
				t.Fatalf("nodes (-want +got):\n%s", diff)
			}
			if len(ea.More) == 0 {
				return
			}
			// Set the parts aside; the gang starts on them once the jobs
			// on them have ended, and not before.
			holds := []*HoldSet{c.NewHold(ea.Pool, ea.Nodes)}
			for _, m := range ea.More {
				holds = append(holds, c.NewHold(m.Pool, m.Nodes))
			}
			for _, h := range holds {
				if h.Spare(&tc.req) {
					t.Errorf("part in %s has room to spare: backfill could run past the gang's start there", c.Pools[h.Pool()].Name)
				}
			}
			for i := range pls {
				if ends[i] < tc.at {
					c.Release(&pls[i])
				}
			}
			if tc.at > tc.now {
				if pl, ok := c.PlaceOnSpan(&tc.req, holds); ok {
					t.Fatalf("placed before the reservation's start: %+v", pl)
				}
			}
			for i := range pls {
				if ends[i] == tc.at {
					c.Release(&pls[i])
				}
			}
			pl, ok := c.PlaceOnSpan(&tc.req, holds)
			if !ok {
				t.Fatal("not placed on its reservation at its start")
			}
			got := map[string][]int32{}
			pl.Parts(func(part *Placement) {
				for _, s := range part.Nodes {
					got[c.Pools[part.Pool].Name] = append(got[c.Pools[part.Pool].Name], s.Node)
				}
			})
			if diff := cmp.Diff(tc.parts, got); diff != "" {
				t.Errorf("placed on other nodes than reserved (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEarliestSpanProperty: over random sites and busy nodes, a gang's
// reservation across pools is the soonest time enough nodes of its group
// are entirely free (worked out here node by node), on distinct available
// nodes of one site, model and node size, each entirely free by then;
// the gang places on them (PlaceOnSpan) once the jobs ending by then have
// ended and not a moment before, and ordinary placement never takes them
// meanwhile.
func TestEarliestSpanProperty(t *testing.T) {
	spans := 0
	defer func() {
		if spans < 30 {
			t.Errorf("%d reservations spanned pools over all seeds: the test exercises too few", spans)
		}
	}()
	for seed := range uint64(150) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 171))
			site := core.Site{ID: "s", State: core.SiteActive}
			for i := range 2 + rng.IntN(3) {
				site.Pools = append(site.Pools, core.Pool{
					Name: fmt.Sprintf("p%d", i), Model: []string{"x", "y"}[rng.IntN(2)], AccelPerNode: 4,
					Nodes: 4 + rng.IntN(30), NodesPerBlock: 1 + rng.IntN(6), BlocksPerPod: 1 + rng.IntN(4),
				})
			}
			c, err := NewCluster([]core.Site{site})
			if err != nil {
				t.Fatal(err)
			}
			var jobs []busyJob
			for pi, p := range c.Pools {
				for i := range p.Nodes() {
					if rng.IntN(3) > 0 {
						jobs = append(jobs, busyJob{pool: c.Pools[pi].Name, node: int32(i), devs: 1 + rng.IntN(4), end: int64(10 * (1 + rng.IntN(50)))})
					}
				}
			}
			pls, ends := startBusy(t, c, jobs)
			// A hold someone else has: its nodes are not the gang's.
			if rng.IntN(2) == 0 {
				c.NewHold(0, []int32{0, 1})
			}
			model := []string{"x", "y"}[rng.IntN(2)]
			group, nodes := []int{}, 0
			for pi, p := range c.Pools {
				if p.Model == model {
					group = append(group, pi)
					nodes += p.Nodes()
				}
			}
			if len(group) < 2 {
				return
			}
			most := 0
			for _, pi := range group {
				most = max(most, c.Pools[pi].Nodes())
			}
			if most >= nodes {
				return
			}
			n := most + 1 + rng.IntN(nodes-most) // no one pool holds it
			r := Request{Milli: core.Milli(4*n) * 1000, Models: []string{model}}
			const now = 5
			ea, ok := c.EarliestStart(&r, c.Eligible(&r), now)
			// Node by node: when is each available node of the group whole?
			var times []int64
			for _, pi := range group {
				p := c.Pools[pi]
				for i := range p.Nodes() {
					if !p.Held(i) {
						times = append(times, p.HeldAt(i, 0))
					}
				}
			}
			slices.Sort(times)
			if len(times) < n {
				if ok {
					t.Fatalf("reservation of %d nodes where %d are available", n, len(times))
				}
				return
			}
			if !ok {
				t.Fatalf("no reservation for %d nodes of %d available", n, len(times))
			}
			if want := max(times[n-1], now); ea.At != want {
				t.Fatalf("at %d, want %d (the %d-th soonest whole node)", ea.At, want, n)
			}
			if len(ea.More) > 0 {
				spans++
			}
			parts := append([]Earliest{{Pool: ea.Pool, Nodes: ea.Nodes}}, ea.More...)
			total := 0
			for k, part := range parts {
				p := c.Pools[part.Pool]
				if p.Model != model || (k > 0 && part.Pool <= parts[k-1].Pool) {
					t.Fatalf("part in pool %s (model %s): out of the group or out of order", p.Name, p.Model)
				}
				for k, i := range part.Nodes {
					if k > 0 && i <= part.Nodes[k-1] || p.Held(int(i)) || p.HeldAt(int(i), 0) > ea.At {
						t.Fatalf("node %s/%d: repeated, held elsewhere or not whole by %d", p.Name, i, ea.At)
					}
				}
				total += len(part.Nodes)
			}
			if total != n {
				t.Fatalf("%d nodes reserved, want %d", total, n)
			}
			var holds []*HoldSet
			for _, part := range parts {
				holds = append(holds, c.NewHold(part.Pool, part.Nodes))
			}
			// Ordinary placement never takes the reserved nodes.
			for range 20 {
				small := Request{Milli: core.Milli(1+rng.IntN(4)) * 1000, Models: []string{model}}
				pl, miss := c.Place(&small, c.Eligible(&small))
				if miss.Code != MissNone {
					break
				}
				pl.Parts(func(part *Placement) {
					for _, s := range part.Nodes {
						if c.Pools[part.Pool].Held(int(s.Node)) {
							t.Fatalf("a job was placed on reserved node %s/%d", c.Pools[part.Pool].Name, s.Node)
						}
					}
				})
				c.Commit(&pl, 1<<40)
			}
			for i := range pls {
				if ends[i] < ea.At {
					c.Release(&pls[i])
				}
			}
			if ea.At > now {
				if _, ok := c.PlaceOnSpan(&r, holds); ok {
					t.Fatalf("placed before %d", ea.At)
				}
			}
			for i := range pls {
				if ends[i] == ea.At {
					c.Release(&pls[i])
				}
			}
			pl, ok := c.PlaceOnSpan(&r, holds)
			if !ok {
				t.Fatalf("not placed on its %d reserved nodes at %d", n, ea.At)
			}
			if got := pl.Milli(); got != r.Milli {
				t.Fatalf("placed %s, want %s", got, r.Milli)
			}
		})
	}
}
