package sched

import (
	"cmp"
	"math/bits"
	"slices"
)

// Victim is a running job that may be preempted, with what preempting it
// costs (lost work, e.g. accelerator-seconds since its last checkpoint).
type Victim struct {
	Index int // the caller's index, returned in the chosen set
	Pl    *Placement
	Cost  float64
}

// Preemption is a chosen victim set and where the request will go once
// they are gone.
type Preemption struct {
	Pool    int
	Nodes   []int32 // nodes to set aside for the request
	Victims []int   // Victim.Index values, ascending
	Cost    float64
}

type nodeVictims struct {
	node int32
	mask uint64  // whole devices the victims hold
	vic  []int   // positions in victims
	cost float64 // per-node share of the victims' cost
	cpu  int32   // CPUs the victims hold on the node
	mem  int32   // MiB the victims hold on the node
}

// PreemptFor finds the cheapest set of victims whose removal lets r
// start: for a one-node request, the node needing the least lost work;
// for a gang, the block (else pod, else pool) whose n cheapest freeable
// nodes cost least. Held nodes are never chosen. ok is false when no
// victim set makes r fit, so nothing is preempted for a job that still
// could not start. Fractional victims free nothing (their device may be
// shared with others).
func (c *Cluster) PreemptFor(r *Request, pools []int, victims []Victim) (Preemption, bool) {
	best := Preemption{Pool: -1}
	if r.Milli == 0 && r.Nodes <= 1 && !r.Exclusive {
		return best, false // a CPU-only job that shares a node preempts nobody
	}
	for _, pi := range pools {
		p := c.Pools[pi]
		var byNode []*nodeVictims
		idx := map[int32]*nodeVictims{}
		for vi, v := range victims {
			if v.Pl.Pool != pi {
				continue
			}
			share := v.Cost / float64(len(v.Pl.Nodes))
			for _, s := range v.Pl.Nodes {
				if p.nodes[s.Node].hs != nil {
					continue
				}
				nv := idx[s.Node]
				if nv == nil {
					nv = &nodeVictims{node: s.Node}
					idx[s.Node] = nv
					byNode = append(byNode, nv)
				}
				if s.Milli == 0 {
					nv.mask |= s.Mask
				}
				nv.cpu += s.CPUs
				nv.mem += s.MemMiB
				nv.vic = append(nv.vic, vi)
				nv.cost += share
			}
		}
		slices.SortFunc(byNode, func(a, b *nodeVictims) int { return cmp.Compare(a.node, b.node) })
		n := r.nodesIn(p)
		if n == 0 {
			w := r.Milli.Whole()
			if w > p.K {
				continue
			}
			for _, nv := range byNode {
				free := p.freeOf(int(nv.node))
				if free+bits.OnesCount64(nv.mask) < w {
					continue
				}
				// Cheapest victims on the node first until w devices are free.
				vs := slices.Clone(nv.vic)
				slices.SortStableFunc(vs, func(a, b int) int { return cmp.Compare(victims[a].Cost, victims[b].Cost) })
				var chosen []int
				cost := 0.0
				for _, vi := range vs {
					if free >= w {
						break
					}
					var m uint64
					for _, s := range victims[vi].Pl.Nodes {
						if s.Node == nv.node && s.Milli == 0 {
							m |= s.Mask
						}
					}
					if m == 0 {
						continue
					}
					free += bits.OnesCount64(m)
					chosen = append(chosen, victims[vi].Index)
					cost += victims[vi].Cost
				}
				if free >= w && (best.Pool < 0 || cost < best.Cost) {
					slices.Sort(chosen)
					best = Preemption{Pool: pi, Nodes: []int32{nv.node}, Victims: chosen, Cost: cost}
				}
			}
			continue
		}
		// Gangs: a node is freeable when victims hold all its used devices.
		type cand struct {
			node int32
			cost float64
			vic  []int
		}
		perBlock := make([][]cand, len(p.blockWhole))
		for _, nv := range byNode {
			i := int(nv.node)
			if p.nodes[i].used&^nv.mask != 0 || p.nodes[i].cpu != nv.cpu || p.nodes[i].mem != nv.mem {
				continue // a job that is no victim keeps devices, CPUs or memory
			}
			hasFrac := false
			for k := range p.K {
				if _, ok := p.frac[int32(i)<<6|int32(k)]; ok {
					hasFrac = true
				}
			}
			if hasFrac {
				continue
			}
			perBlock[i/p.NodesPerBlock] = append(perBlock[i/p.NodesPerBlock], cand{nv.node, nv.cost, nv.vic})
		}
		for b := range perBlock {
			lo, hi := b*p.NodesPerBlock, min((b+1)*p.NodesPerBlock, len(p.nodes))
			bs := &p.bucket[p.K]
			for i := bs.next(lo); i >= 0 && i < hi; i = bs.next(i + 1) {
				perBlock[b] = append(perBlock[b], cand{node: int32(i)})
			}
			slices.SortFunc(perBlock[b], func(x, y cand) int {
				if x.cost != y.cost {
					return cmp.Compare(x.cost, y.cost)
				}
				return cmp.Compare(x.node, y.node)
			})
		}
		pick := func(cs []cand) (Preemption, bool) {
			if len(cs) < n {
				return Preemption{}, false
			}
			slices.SortStableFunc(cs, func(x, y cand) int { return cmp.Compare(x.cost, y.cost) })
			pr := Preemption{Pool: pi}
			seen := map[int]bool{}
			for _, cd := range cs[:n] {
				pr.Nodes = append(pr.Nodes, cd.node)
				for _, vi := range cd.vic {
					if !seen[vi] {
						seen[vi] = true
						pr.Victims = append(pr.Victims, victims[vi].Index)
						pr.Cost += victims[vi].Cost
					}
				}
			}
			slices.Sort(pr.Nodes)
			slices.Sort(pr.Victims)
			return pr, true
		}
		var found Preemption
		ok := false
		if r.Topology != TopoAny && n <= p.NodesPerBlock {
			for b := range perBlock {
				if pr, fit := pick(slices.Clone(perBlock[b])); fit && (!ok || pr.Cost < found.Cost) {
					found, ok = pr, true
				}
			}
		}
		if !ok && r.Topology != TopoBlock {
			for d := 0; d*p.BlocksPerPod < len(perBlock) && r.Topology != TopoAny; d++ {
				var cs []cand
				for b := d * p.BlocksPerPod; b < min((d+1)*p.BlocksPerPod, len(perBlock)); b++ {
					cs = append(cs, perBlock[b]...)
				}
				if pr, fit := pick(cs); fit && (!ok || pr.Cost < found.Cost) {
					found, ok = pr, true
				}
			}
			if !ok && r.Topology != TopoPod {
				var cs []cand
				for b := range perBlock {
					cs = append(cs, perBlock[b]...)
				}
				found, ok = pick(cs)
			}
		}
		if ok && len(found.Victims) > 0 && (best.Pool < 0 || found.Cost < best.Cost) {
			best = found
		}
	}
	return best, best.Pool >= 0
}
