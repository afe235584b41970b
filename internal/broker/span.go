package broker

import (
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// spanFits reports whether sp, a gang no one pool of s holds, fits the
// pools of one model and node size of s together, as the scheduler
// places such a gang (a whole-site job): never on a Slurm site
// (sched.CanSpan), nor when it requires one block or pod, which lie in
// one pool.
func (s *site) spanFits(sp *core.JobSpec, need core.Milli, cons sched.Constraint) bool {
	if !sched.CanSpan(&s.Site) || sp.Nodes == 1 || sp.Topology == "block" || sp.Topology == "pod" {
		return false
	}
	cpus, mem := hostOf(sp)
	type key struct {
		model string
		k     int
	}
	nodes := map[key]int{}
	for i := range s.pools {
		p := &s.pools[i]
		if p.k == 0 || !modelOK(sp.Model, p.model) || sp.Constraint != "" && !cons.Match(p.model, p.features) ||
			p.cpus > 0 && cpus > p.cpus || p.mem > 0 && mem > p.mem || sp.PerNode > p.k {
			continue
		}
		nodes[key{p.model, p.k}] += p.nodes
	}
	for k, have := range nodes {
		n := sp.Nodes
		if n <= 1 {
			per := k.k
			if sp.PerNode > 0 {
				per = sp.PerNode
			}
			n = (need.Whole() + per - 1) / per
		} else if (need.Whole()+n-1)/n > k.k {
			continue
		}
		if n <= have {
			return true
		}
	}
	return false
}
