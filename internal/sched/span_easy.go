package sched

import (
	"maps"
	"slices"
)

// This file gives a gang across pools (placeSpan) what a one-pool gang
// has: an EASY reservation. EarliestStart asks earliestSpan for the
// soonest time enough nodes are entirely free in the pools of one site,
// model and node size together, and which nodes the gang would then take
// (chosen as placeSpan chooses: the fewest pods, then blocks); the engine
// sets each pool's part aside in a HoldSet of its own, so backfill, which
// looks at one hold at a time, never starts a job there that runs past
// the gang's start (a part holds fewer nodes than the gang needs, so
// HoldSet.Spare is false and FitsAt refuses). PlaceOnSpan places the gang
// on its parts once they are free.

// earliestSpan improves best with a start of r across the pools of one
// spanGroup, when that is sooner than best (one pool wins ties, as
// placement tries one pool first). A required block or pod never spans.
func (c *Cluster) earliestSpan(r *Request, pools []int, now int64, best *Earliest) {
	if !c.spans || len(pools) < 2 || r.Topology == TopoBlock || r.Topology == TopoPod {
		return
	}
	if best.Pool >= 0 && best.At <= now {
		return // one pool holds it now: nothing is sooner
	}
	for _, g := range c.spanGroups(r, pools) {
		if g.nodes < g.n {
			continue
		}
		at, ok := c.nthWholeSpan(g.pools, g.n)
		if !ok || best.Pool >= 0 && max(at, now) >= best.At {
			continue
		}
		cand := map[int][]int32{}
		for _, pi := range g.pools {
			p := c.Pools[pi]
			for i := range p.nodes {
				if p.nodes[i].hs == nil && p.nodeAt(i, p.K) <= at {
					cand[pi] = append(cand[pi], int32(i))
				}
			}
		}
		parts := c.spanPick(cand, g.n)
		if len(parts) == 0 {
			continue
		}
		e := Earliest{Pool: parts[0].Pool, Nodes: parts[0].Nodes, At: max(at, now)}
		if len(parts) > 1 {
			e.More = parts[1:]
		}
		*best = e
	}
}

// nthWholeSpan is nthWhole over every block of several pools: the n-th
// soonest time an available node of them is entirely free.
func (c *Cluster) nthWholeSpan(pools []int, n int) (int64, bool) {
	var all []int64
	for _, pi := range pools {
		p := c.Pools[pi]
		for b := range p.wholeAt {
			p.refresh(b)
			ws := p.wholeAt[b]
			if len(ws) > n {
				ws = ws[:n]
			}
			all = append(all, ws...)
		}
	}
	if len(all) < n {
		return 0, false
	}
	return nthSmallest(all, n-1), true
}

// spanPick chooses n of the candidate nodes (by pool index, each list
// ascending) as placeSpan chooses free ones: the pods with the most
// candidates first (ties to the lower pool, then pod), in each pod its
// blocks with the most first (ties to the lower block), in a block the
// lowest nodes. It returns one part per pool it took nodes of, by pool
// index, each with its nodes ascending; nil when the candidates are
// fewer than n.
func (c *Cluster) spanPick(cand map[int][]int32, n int) []Earliest {
	type unit struct{ pool, pod, count int }
	var units []unit
	perBlock := map[[2]int][]int32{} // (pool, block) -> candidates
	total := 0
	for pi, nodes := range cand {
		p := c.Pools[pi]
		pods := map[int]int{}
		for _, i := range nodes {
			b := int(i) / p.NodesPerBlock
			perBlock[[2]int{pi, b}] = append(perBlock[[2]int{pi, b}], i)
			pods[b/p.BlocksPerPod]++
		}
		for d, k := range pods {
			units = append(units, unit{pi, d, k})
		}
		total += len(nodes)
	}
	if total < n {
		return nil
	}
	slices.SortFunc(units, func(a, b unit) int {
		if a.count != b.count {
			return b.count - a.count
		}
		if a.pool != b.pool {
			return a.pool - b.pool
		}
		return a.pod - b.pod
	})
	picked := map[int][]int32{}
	taken := 0
	for _, u := range units {
		if taken >= n {
			break
		}
		p := c.Pools[u.pool]
		lo, hi := u.pod*p.BlocksPerPod, min((u.pod+1)*p.BlocksPerPod, len(p.wholeAt))
		var blocks []int
		for b := lo; b < hi; b++ {
			if len(perBlock[[2]int{u.pool, b}]) > 0 {
				blocks = append(blocks, b)
			}
		}
		slices.SortStableFunc(blocks, func(a, b int) int {
			return len(perBlock[[2]int{u.pool, b}]) - len(perBlock[[2]int{u.pool, a}])
		})
		for _, b := range blocks {
			ns := perBlock[[2]int{u.pool, b}]
			k := min(len(ns), n-taken)
			picked[u.pool] = append(picked[u.pool], ns[:k]...)
			taken += k
			if taken >= n {
				break
			}
		}
	}
	var out []Earliest
	for _, pi := range slices.Sorted(maps.Keys(picked)) {
		ns := picked[pi]
		slices.Sort(ns)
		out = append(out, Earliest{Pool: pi, Nodes: ns})
	}
	return out
}

// PlaceOnSpan places r, a gang whose EASY reservation spans pools, on
// the nodes held for it (one HoldSet per pool, from Earliest and its
// More): whole nodes only, chosen as placeSpan chooses them. The parts
// of the placement come by pool index, as placeSpan makes them. It
// fails, placing nothing, until enough of the held nodes are entirely
// free.
func (c *Cluster) PlaceOnSpan(r *Request, holds []*HoldSet) (Placement, bool) {
	if len(holds) == 0 {
		return Placement{}, false
	}
	n := r.nodesIn(holds[0].pool)
	if n == 0 {
		return Placement{}, false
	}
	cand := map[int][]int32{}
	total := 0
	for _, h := range holds {
		p := h.pool
		if int(h.cnt[p.K]) == 0 {
			continue
		}
		b := &h.bucket[p.K]
		for i := b.next(0); i >= 0; i = b.next(i + 1) {
			if p.isWhole(i) {
				cand[p.Index] = append(cand[p.Index], int32(i))
				total++
			}
		}
	}
	if total < n {
		return Placement{}, false
	}
	parts := c.spanPick(cand, n)
	var pl Placement
	for _, part := range parts {
		p := c.Pools[part.Pool]
		all := uint64(1)<<uint(p.K) - 1
		if p.K == 64 {
			all = ^uint64(0)
		}
		ns := make([]NodeShare, len(part.Nodes))
		for k, i := range part.Nodes {
			ns[k] = NodeShare{Node: i, Mask: all, CPUs: int32(p.CPUsPerNode), MemMiB: int32(p.MemMiBPerNode)}
		}
		if pl.Nodes == nil {
			pl = Placement{Pool: part.Pool, Nodes: ns}
		} else {
			pl.More = append(pl.More, Placement{Pool: part.Pool, Nodes: ns})
		}
	}
	return pl, true
}
