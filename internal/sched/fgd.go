package sched

import (
	"github.com/gigafactory/gigafactory/internal/core"
)

// This file wires the digital twin's fragmentation-aware scoring (frag.go,
// FGD after Weng et al., ATC'23) into one-node placement. Scoring every
// node is too slow at hundreds of thousands of nodes, so the policy scores
// a bounded candidate set drawn from the best-fit buckets: for each free
// count that fits, the lowest-indexed few nodes of each eligible pool (and,
// for a share, the nodes with partly used devices). With no mix set,
// placement stays plain best fit.

// SetFragmentationMix makes one-node placement choose, among up to
// candidates nodes per pool and free count (0 = 4; free counts from the
// tightest up until about 4*candidates nodes are in), the one whose
// fragmentation against mix grows least. A nil or empty mix restores best
// fit.
func (c *Cluster) SetFragmentationMix(mix RequestMix, candidates int) {
	if candidates <= 0 {
		candidates = 4
	}
	c.mix, c.fragCands = mix, candidates
}

type fgdCand struct {
	pool int
	node int32
}

// placeFGD is Place for a one-node request under the FGD policy.
func (c *Cluster) placeFGD(r *Request, pools []int) (Placement, bool) {
	w, per := r.Milli.Whole(), core.Milli(1000)
	if r.Milli < 1000 {
		w, per = 1, r.Milli
	}
	var cands []fgdCand
	var nodes []NodeFree
	seen := map[fgdCand]bool{}
	add := func(p *Pool, i int) {
		k := fgdCand{p.Index, int32(i)}
		if seen[k] || p.nodes[i].hs != nil {
			return
		}
		seen[k] = true
		cands = append(cands, k)
		nodes = append(nodes, p.nodeFree(i))
	}
	if per < 1000 {
		for _, pi := range pools {
			p := c.Pools[pi]
			n := 0
			for _, key := range p.partial {
				if n >= c.fragCands {
					break
				}
				if 1000-p.frac[key] >= per {
					add(p, int(key>>6))
					n++
				}
			}
		}
	}
	// Free-count levels from the tightest up, a few nodes per pool each,
	// until about four levels' worth of candidates are in.
	for f := w; f <= MaxAccelPerNode && len(cands) < 4*c.fragCands; f++ {
		for _, pi := range pools {
			p := c.Pools[pi]
			if f > p.K || *p.nonEmpty&(1<<uint(f)) == 0 {
				continue
			}
			b := &p.bucket[f]
			n := 0
			for i := b.next(0); i >= 0 && n < c.fragCands; i = b.next(i + 1) {
				add(p, i)
				n++
			}
		}
	}
	if len(nodes) == 0 {
		return Placement{}, false
	}
	var cpu, mem int32
	if len(cands) > 0 {
		cpu, mem = c.Pools[cands[0].pool].cpuFor(r, core1000(r.Milli, w))
	}
	req := NodeRequest{Devices: w, PerDevice: per, CPUMilli: int64(cpu) * 1000, MemMiB: int64(mem)}
	if r.CPUsPerAccel == 0 && r.MemMiBPerAccel == 0 {
		req.CPUMilli, req.MemMiB = 0, 0 // proportional shares always fit
	}
	ch, ok := FragAware(nodes, req, c.mix)
	if !ok {
		return Placement{}, false
	}
	k := cands[ch.Node]
	p := c.Pools[k.pool]
	cpu, mem = p.cpuFor(r, core1000(r.Milli, w))
	s := NodeShare{Node: k.node, CPUs: cpu, MemMiB: mem}
	for _, d := range ch.Devices {
		s.Mask |= 1 << uint(d)
	}
	if per < 1000 {
		s.Milli = per
	}
	return Placement{Pool: k.pool, Nodes: []NodeShare{s}}, true
}

// nodeFree describes node i for frag.go's scoring.
func (p *Pool) nodeFree(i int) NodeFree {
	n := &p.nodes[i]
	nf := NodeFree{Model: p.Model, Free: make([]core.Milli, p.K), CPUMilli: 1 << 40, MemMiB: 1 << 40}
	for d := range p.K {
		switch {
		case n.used&(1<<uint(d)) == 0:
			nf.Free[d] = 1000
		default:
			if u, ok := p.frac[int32(i)<<6|int32(d)]; ok {
				nf.Free[d] = 1000 - u
			}
		}
	}
	if p.CPUsPerNode > 0 {
		nf.CPUMilli = int64(p.CPUsPerNode-int(n.cpu)) * 1000
	}
	if p.MemMiBPerNode > 0 {
		nf.MemMiB = int64(p.MemMiBPerNode - int(n.mem))
	}
	return nf
}
