package sched

import (
	"math/bits"
	"slices"
)

// This file answers "when": the earliest time a request could start if
// running jobs end at their walltime, and on which nodes. It backs EASY
// backfill reservations, advance reservations and preemption, all of
// which set nodes aside ("hold" them) so that ordinary placement skips
// them.

// HoldSet is a set of nodes of one pool set aside (for an EASY
// reservation, a preemption or an advance reservation): ordinary placement
// no longer sees them, jobs already on them keep running, and PlaceOn
// places onto them. Like the pool, it keeps its nodes in buckets by free
// devices, so asking it for room costs a few word operations however many
// nodes it holds.
type HoldSet struct {
	pool     *Pool
	Nodes    []int32 // ascending
	bucket   []bitset
	cnt      []int32
	nonEmpty uint64
}

// NewHold sets nodes of pool pi aside. Nodes already held elsewhere are
// skipped.
func (c *Cluster) NewHold(pi int, nodes []int32) *HoldSet {
	p := c.Pools[pi]
	h := &HoldSet{pool: p, bucket: make([]bitset, p.K+1), cnt: make([]int32, p.K+1)}
	for f := range h.bucket {
		h.bucket[f] = newBitset(len(p.nodes))
	}
	for _, n := range nodes {
		i := int(n)
		if p.nodes[i].hs != nil {
			continue
		}
		p.leave(i)
		p.nodes[i].hs = h
		p.heldFree += p.freeOf(i)
		p.dirty[i/p.NodesPerBlock] = true
		h.enter(i)
		h.Nodes = append(h.Nodes, n)
	}
	slices.Sort(h.Nodes)
	return h
}

// Release returns the held nodes to ordinary placement.
func (h *HoldSet) Release() {
	p := h.pool
	for _, n := range h.Nodes {
		i := int(n)
		if p.nodes[i].hs != h {
			continue
		}
		h.leave(i)
		p.nodes[i].hs = nil
		p.heldFree -= p.freeOf(i)
		p.dirty[i/p.NodesPerBlock] = true
		p.enter(i)
	}
	h.Nodes = nil
}

// Pool is the index of the pool the held nodes belong to.
func (h *HoldSet) Pool() int { return h.pool.Index }

func (h *HoldSet) enter(i int) {
	f := h.pool.freeOf(i)
	h.bucket[f].set(i)
	h.cnt[f]++
	h.nonEmpty |= 1 << uint(f)
}

func (h *HoldSet) leave(i int) {
	f := h.pool.freeOf(i)
	h.bucket[f].clear(i)
	h.cnt[f]--
	if h.cnt[f] == 0 {
		h.nonEmpty &^= 1 << uint(f)
	}
}

// Held reports whether node i is set aside.
func (p *Pool) Held(i int) bool { return p.nodes[i].hs != nil }

// NodeFreeDevices is the number of devices of node i held by no job.
func (p *Pool) NodeFreeDevices(i int) int { return p.freeOf(i) }

// NodeShared reports whether node i has a device shared by fractional
// jobs: room for a fraction may be left there with no device free.
func (p *Pool) NodeShared(i int) bool {
	k := lowerBound(p.partial, int32(i)<<6)
	return k < len(p.partial) && p.partial[k] < int32(i+1)<<6
}

// nodeAt returns when node i has w free devices, from its devices'
// expected ends (0 = now).
func (p *Pool) nodeAt(i, w int) int64 {
	var buf [MaxAccelPerNode]int64
	e := buf[:p.K]
	copy(e, p.devEnd[i*p.K:(i+1)*p.K])
	if w >= p.K {
		end := p.hostEnd[i]
		if p.K > 0 {
			end = max(end, slices.Max(e))
		}
		return end
	}
	slices.Sort(e)
	return e[w-1]
}

// refresh rebuilds block b's time summary if stale.
func (p *Pool) refresh(b int) {
	if !p.dirty[b] {
		return
	}
	p.dirty[b] = false
	at := p.blockAt[b]
	if at == nil {
		at = make([]int64, p.K+1)
		p.blockAt[b] = at
	}
	const never = int64(1<<63 - 1)
	for w := range at {
		at[w] = never
	}
	whole := p.wholeAt[b][:0]
	lo, hi := b*p.NodesPerBlock, min((b+1)*p.NodesPerBlock, len(p.nodes))
	var buf [MaxAccelPerNode]int64
	for i := lo; i < hi; i++ {
		if p.nodes[i].hs != nil {
			continue
		}
		e := buf[:p.K]
		copy(e, p.devEnd[i*p.K:(i+1)*p.K])
		slices.Sort(e)
		for w := 1; w <= p.K; w++ {
			at[w] = min(at[w], e[w-1])
		}
		end := p.hostEnd[i]
		if p.K > 0 {
			end = max(end, e[p.K-1])
		}
		whole = append(whole, end)
	}
	slices.Sort(whole)
	p.wholeAt[b] = whole
}

// Earliest is where and when a request could start at the soonest.
type Earliest struct {
	Pool  int
	Nodes []int32 // the nodes to set aside
	At    int64   // unix seconds; never before the now given
	// More holds the parts in further pools of a gang that spans pools
	// (each with its Pool and Nodes; At is the first's), by pool index;
	// nil for a start in one pool. Set each part aside in a HoldSet of
	// its own, and place the gang on them with PlaceOnSpan.
	More []Earliest
}

// EarliestStart finds the soonest time, not before now, at which r could
// start on available (not held) nodes of pools if every running job ends
// at its expected end, and the nodes it would use then. ok is false when r
// can never fit those pools. A gang no one pool holds sooner may start
// across the pools of one site, model and node size (see placeSpan): its
// Earliest then has More.
func (c *Cluster) EarliestStart(r *Request, pools []int, now int64) (Earliest, bool) {
	best := Earliest{Pool: -1}
	better := func(pi int, at int64, nodes []int32) {
		at = max(at, now)
		if best.Pool < 0 || at < best.At {
			best = Earliest{Pool: pi, Nodes: nodes, At: at}
		}
	}
	for _, pi := range pools {
		p := c.Pools[pi]
		n := r.nodesIn(p)
		if n == 0 {
			w := r.Milli.Whole()
			if w > p.K || r.Nodes > 1 || w == 0 {
				// A CPU-only job that shares a node gets no
				// reservation: it waits for CPUs to come free.
				continue
			}
			bb, at := -1, int64(0)
			for b := range p.blockAt {
				p.refresh(b)
				if v := p.blockAt[b][w]; len(p.wholeAt[b]) > 0 && (bb < 0 || v < at) {
					bb, at = b, v
				}
			}
			if bb < 0 {
				continue
			}
			lo, hi := bb*p.NodesPerBlock, min((bb+1)*p.NodesPerBlock, len(p.nodes))
			for i := lo; i < hi; i++ {
				if !(p.nodes[i].hs != nil) && p.nodeAt(i, w) == at {
					better(pi, at, []int32{int32(i)})
					break
				}
			}
			continue
		}
		if n > len(p.nodes) {
			continue
		}
		// Gangs: the n-th soonest entirely free node, per block, pod or pool.
		if r.Topology != TopoAny && n <= p.NodesPerBlock {
			bb, at := -1, int64(0)
			for b := range p.wholeAt {
				p.refresh(b)
				if ws := p.wholeAt[b]; len(ws) >= n && (bb < 0 || ws[n-1] < at) {
					bb, at = b, ws[n-1]
				}
			}
			if bb >= 0 {
				better(pi, at, p.soonestWhole(bb, bb+1, n, at))
				if best.Pool == pi && at <= now {
					continue // the tightest level is free now: nothing beats it
				}
			}
		}
		if r.Topology == TopoBlock {
			continue
		}
		nb := len(p.blockAt)
		if r.Topology != TopoAny {
			for d := 0; d*p.BlocksPerPod < nb; d++ {
				lo, hi := d*p.BlocksPerPod, min((d+1)*p.BlocksPerPod, nb)
				if at, ok := p.nthWhole(lo, hi, n); ok {
					if best.Pool < 0 || max(at, now) < best.At {
						better(pi, at, p.soonestWhole(lo, hi, n, at))
					}
				}
			}
		}
		if r.Topology == TopoPod {
			continue
		}
		if at, ok := p.nthWhole(0, nb, n); ok && (best.Pool < 0 || max(at, now) < best.At) {
			better(pi, at, p.soonestWhole(0, nb, n, at))
		}
	}
	if c.spans && r.Nodes != 1 {
		c.earliestSpan(r, pools, now, &best)
	}
	return best, best.Pool >= 0
}

// nthWhole returns the n-th soonest time a node of blocks [lo,hi) is
// entirely free.
func (p *Pool) nthWhole(lo, hi, n int) (int64, bool) {
	all := p.scratch[:0]
	for b := lo; b < hi; b++ {
		p.refresh(b)
		ws := p.wholeAt[b]
		if len(ws) > n {
			ws = ws[:n] // sorted: later ones cannot be among the n soonest
		}
		all = append(all, ws...)
	}
	p.scratch = all
	if len(all) < n {
		return 0, false
	}
	return nthSmallest(all, n-1), true
}

// nthSmallest returns the k-th smallest (0-based) of xs, reordering xs
// (quickselect with a middle pivot; deterministic).
func nthSmallest(xs []int64, k int) int64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		pivot := xs[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// soonestWhole lists the n available nodes of blocks [lo,hi) that are
// entirely free soonest, ties to the lower index; at is the n-th soonest
// time (from nthWhole or a block's list).
func (p *Pool) soonestWhole(lo, hi, n int, at int64) []int32 {
	out := make([]int32, 0, n)
	end := min(hi*p.NodesPerBlock, len(p.nodes))
	for i := lo * p.NodesPerBlock; i < end; i++ {
		if p.nodes[i].hs == nil && p.nodeAt(i, p.K) < at {
			out = append(out, int32(i))
		}
	}
	for i := lo * p.NodesPerBlock; i < end && len(out) < n; i++ {
		if p.nodes[i].hs == nil && p.nodeAt(i, p.K) == at {
			out = append(out, int32(i))
		}
	}
	slices.Sort(out)
	return out
}

// HeldAt reports when held node i of pool p has w free devices (w = 0
// asks for the whole node), from expected ends.
func (p *Pool) HeldAt(i, w int) int64 {
	if w <= 0 || w > p.K {
		w = p.K
	}
	return p.nodeAt(i, w)
}

// FitsAt reports whether r, the request h was set aside for, could still
// be placed on h's nodes at at (unix seconds) as PlaceOn would place it
// then, if every job on them ends at its expected end and pl, a placement
// on h that PlaceOn returned and nobody committed, ran on them until
// plEnd.
//
// Backfill asks it before starting a job on nodes held for another that
// would still run at the holder's start: an EASY reservation counts on
// devices, not on whole nodes, so a job may take the devices the holder
// will not need (one node of 8 held for a job of 4 has room for a job of 2
// beside a running job of 6 that ends in time). A gang needs its nodes
// whole, so any job that runs past at on one of them does not fit.
//
// Host resources are judged conservatively: on a node pl uses, a request
// that asks for CPUs or memory per accelerator must fit beside every job
// on the node now, as if none of them had ended by at.
func (h *HoldSet) FitsAt(r *Request, at int64, pl *Placement, plEnd int64) bool {
	p := h.pool
	n := r.nodesIn(p)
	w := p.K // devices a node must have free at at
	one := n == 0
	var cpu, mem int32
	checkHost := false
	if one {
		w = r.Milli.Whole()
		if w > p.K || r.Nodes > 1 {
			return false
		}
		cpu, mem = p.cpuFor(r, core1000(r.Milli, w))
		checkHost = r.hostNeeds()
		n = 1
	} else if plEnd > at && len(h.Nodes)-len(pl.Nodes) < n {
		// pl keeps nodes the gang needs whole (an EASY hold of a gang
		// has just its nodes): no need to look at each of thousands.
		return false
	}
	total, inBlock, most, blk := 0, 0, 0, -1
	for _, nd := range h.Nodes {
		i := int(nd)
		// What pl holds on node i past at.
		var busy uint64
		var plCPU, plMem int32
		touched := false
		if plEnd > at {
			for _, s := range pl.Nodes {
				if int(s.Node) == i {
					busy |= s.Mask
					plCPU += s.CPUs
					plMem += s.MemMiB
					touched = true
				}
			}
		}
		if p.freeBy(i, at, busy) < w || touched && checkHost && !p.hostFits(i, cpu+plCPU, mem+plMem) {
			continue
		}
		// A gang needs its nodes whole: not a CPU of them held past at.
		if !one && (touched || p.hostEnd[i] > at) {
			continue
		}
		if one {
			return true
		}
		total++
		// h.Nodes ascends, so a block's nodes come together.
		if b := i / p.NodesPerBlock; b != blk {
			blk, inBlock = b, 0
		}
		inBlock++
		most = max(most, inBlock)
	}
	if r.Topology == TopoBlock {
		return most >= n
	}
	return total >= n
}

// Spare reports whether h holds devices beyond what r, the request it was
// set aside for, needs: only then can a job share h's nodes past r's
// start (FitsAt). An EASY hold of a gang is just the gang's nodes, and a
// hold of one node for a job of all its devices has none to spare, so
// backfill asks this first and skips PlaceOn on them.
func (h *HoldSet) Spare(r *Request) bool {
	p := h.pool
	if n := r.nodesIn(p); n > 0 {
		return len(h.Nodes) > n
	}
	return len(h.Nodes)*p.K > r.Milli.Whole()
}

// Full reports whether no held node has a free device: nothing can be
// placed on h now. It costs a comparison, where PlaceOn costs a call.
func (h *HoldSet) Full() bool { return h.nonEmpty <= 1 }

// freeBy counts the devices of node i, busy aside, that are free by at
// if the jobs on them end at their expected ends.
func (p *Pool) freeBy(i int, at int64, busy uint64) int {
	free := 0
	for d, end := range p.devEnd[i*p.K : (i+1)*p.K] {
		if end <= at && busy&(1<<uint(d)) == 0 {
			free++
		}
	}
	return free
}

// PlaceOn places r on held nodes only (a reservation's or a backfill
// hold's), best fit, lowest index on ties. It gives fractions a device of
// their own rather than sharing one.
func (c *Cluster) PlaceOn(r *Request, h *HoldSet) (Placement, bool) {
	p := h.pool
	pi := p.Index
	n := r.nodesIn(p)
	if n == 0 {
		w := r.Milli.Whole()
		if w > p.K || r.Nodes > 1 {
			return Placement{}, false
		}
		room := h.nonEmpty &^ (1<<uint(w) - 1) // free counts that fit
		if room == 0 {
			return Placement{}, false // the common answer of backfill's tries
		}
		milli := core1000(r.Milli, w)
		cpu, mem := p.cpuFor(r, milli)
		for m := room; m != 0; m &= m - 1 {
			b := &h.bucket[bits.TrailingZeros64(m)]
			for i := b.next(0); i >= 0; i = b.next(i + 1) {
				if !p.hostFits(i, cpu, mem) {
					continue
				}
				share := NodeShare{Node: int32(i), Mask: lowFree(p.nodes[i].used, p.K, w), CPUs: cpu, MemMiB: mem}
				if r.Milli < 1000 {
					share.Milli = r.Milli
				}
				return Placement{Pool: pi, Nodes: []NodeShare{share}}, true
			}
		}
		return Placement{}, false
	}
	if int(h.cnt[p.K]) < n {
		return Placement{}, false
	}
	// Whole nodes: the block with the most free ones first, so the gang
	// spans as few blocks as the set allows.
	var blocks []int
	perBlock := map[int][]int32{}
	b := &h.bucket[p.K]
	for i := b.next(0); i >= 0; i = b.next(i + 1) {
		if !p.isWhole(i) {
			continue
		}
		blk := i / p.NodesPerBlock
		if perBlock[blk] == nil {
			blocks = append(blocks, blk)
		}
		perBlock[blk] = append(perBlock[blk], int32(i))
	}
	slices.SortFunc(blocks, func(a, b int) int {
		if la, lb := len(perBlock[a]), len(perBlock[b]); la != lb {
			return lb - la
		}
		return a - b
	})
	var picked []int32
	for _, blk := range blocks {
		picked = append(picked, perBlock[blk]...)
		if len(picked) >= n {
			break
		}
	}
	if len(picked) < n || r.Topology == TopoBlock && len(perBlock[blocks[0]]) < n {
		return Placement{}, false
	}
	picked = picked[:n]
	slices.Sort(picked)
	var all uint64
	if p.K > 0 {
		all = ^uint64(0) >> uint(64-p.K)
	}
	pl := Placement{Pool: pi}
	for _, i := range picked {
		pl.Nodes = append(pl.Nodes, NodeShare{Node: i, Mask: all, CPUs: int32(p.CPUsPerNode), MemMiB: int32(p.MemMiBPerNode)})
	}
	return pl, true
}
