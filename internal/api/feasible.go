package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// A job no site of the network could ever run is refused at submission,
// as Slurm refuses one with "Requested node configuration is not
// available", rather than left pending for ever. Two steps:
//
//	models:   the names users type (h100, gpu:h100, nvidia-h100) become the
//	          pool model names of the network, so the stored spec says
//	          what the scheduler compares (config.CanonicalModel)
//	feasible: the broker's filters, every site taken as active and idle
//	          (broker.Feasible): size (accelerators, or CPUs and memory per
//	          node; a gang may span the pools of one model and node size
//	          at a site, sched.CanSpan), model, constraint (-C: an unknown
//	          feature is named with those the sites have), residency,
//	          walltime, pin
//	topology: `topology: block` (pod) needs its nodes in one block (pod)
//	          of one pool: refused when none of the job's model is that
//	          large (topologyNever)

// notAvailable is the words of Slurm's refusal, which users search for.
const notAvailable = "requested node configuration is not available: "

// checkFeasible resolves sp's models and refuses a job that no site of
// the network could ever run; field prefixes error field names. A
// network without sites refuses nothing here: there is nothing to
// compare with, and the job waits as it always did.
func checkFeasible(net submitNet, sp *core.JobSpec, field string) error {
	sites := net.sites
	if len(sites) == 0 {
		return nil
	}
	if sp.Model != "" {
		m, reason := resolveModels(sp.Model, sites)
		if reason != "" {
			return invalidField(field+"model", "%s%s", notAvailable, reason)
		}
		sp.Model = m
	}
	no := net.feas.Check(sp)
	if no == nil {
		if reason := topologyNever(sp, sites); reason != "" {
			return invalidField(field+"topology", "%s%s", notAvailable, reason)
		}
		return nil
	}
	if no.Filter == broker.FilterSize && (sp.Topology == "block" || sp.Topology == "pod") {
		// It fits spread over a site's pools, not in one block (pod):
		// say that, not that it is too large.
		loose := *sp
		loose.Topology = ""
		if net.feas.Check(&loose) == nil {
			if reason := topologyNever(sp, sites); reason != "" {
				return invalidField(field+"topology", "%s%s", notAvailable, reason)
			}
		}
	}
	return invalidField(field+feasibleField(no.Filter, sp, sites), "%s%s", notAvailable, no.Reason)
}

// feasibleField names the spec field a broker filter judged. For the
// size, that is the node shape asked for when it is past every pool of
// the job's models (the parser derives the per-node count from nodes),
// else the accelerators.
func feasibleField(filter string, sp *core.JobSpec, sites []core.Site) string {
	switch filter {
	case broker.FilterPin:
		return "site"
	case broker.FilterResidency:
		return "residency"
	case broker.FilterCompute:
		if sp.Site != "" {
			return "site"
		}
		return "residency"
	case broker.FilterModel:
		return "model"
	case broker.FilterConstraint:
		return "constraint"
	case broker.FilterWalltime:
		return "walltime"
	case broker.FilterSize:
		if sp.Accelerators <= 0 {
			switch {
			case sp.MemMiBPerNode > 0:
				return "mem_mib_per_node"
			case sp.MemMiBPerCPU > 0:
				return "mem_mib_per_cpu"
			case sp.CPUsPerTask > 0:
				return "cpus_per_task"
			case sp.TasksPerNode > 0:
				return "ntasks_per_node"
			case sp.Tasks > 0:
				return "ntasks"
			}
			return "accelerators"
		}
		var perNode, nodes int
		for _, st := range sites {
			for _, p := range st.Pools {
				if sp.Model == "" || slices.Contains(strings.Split(sp.Model, "|"), p.Model) {
					perNode, nodes = max(perNode, p.AccelPerNode), max(nodes, p.Nodes)
				}
			}
		}
		switch {
		case sp.Nodes > nodes:
			return "nodes"
		case sp.PerNode > perNode:
			return "accelerators_per_node"
		}
	}
	return "accelerators"
}

// resolveModels maps each of the "|"-separated model names a user typed
// to the pool models of sites that it names: the pool model itself (in
// any case), or any pool model with the same canonical name
// (config.CanonicalModel: "h100" names "NVIDIA H100" and "NVIDIA H100
// 80GB HBM3"). It returns the names found, "|"-separated without
// repeats, or why a name names no pool: every name must name one, as
// Slurm refuses an unknown gres type.
func resolveModels(want string, sites []core.Site) (string, string) {
	var have []string // pool models of the network, sorted
	for _, st := range sites {
		for _, p := range st.Pools {
			if p.Nodes > 0 && p.AccelPerNode > 0 && !slices.Contains(have, p.Model) {
				have = append(have, p.Model)
			}
		}
	}
	slices.Sort(have)
	var out []string
	add := func(m string) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, one := range strings.Split(want, "|") {
		one = strings.TrimSpace(one)
		if one == "" {
			continue
		}
		found := false
		for _, m := range have {
			if strings.EqualFold(m, one) {
				add(m)
				found = true
			}
		}
		if canon, ok := config.CanonicalModel(one); ok && !found {
			for _, m := range have {
				if c, _ := config.CanonicalModel(m); c == canon {
					add(m)
					found = true
				}
			}
			if !found {
				return "", "model " + strconv.Quote(one) + " (" + canon + "): no site has it; models: " + modelList(have)
			}
		}
		if !found {
			return "", "model " + strconv.Quote(one) + ": no site has it; models: " + modelList(have)
		}
	}
	return strings.Join(out, "|"), ""
}

// modelList words the network's models with their short names:
// "AMD Instinct MI250X (mi250x), virtual".
func modelList(models []string) string {
	if len(models) == 0 {
		return "none"
	}
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = m
		if a := config.ModelAliases(m); len(a) > 0 {
			out[i] += " (" + a[0] + ")"
		}
	}
	return strings.Join(out, ", ")
}

// withModelAliases returns st with each pool's ModelAliases filled, for
// listings; st's pools are copied, not changed.
func withModelAliases(st core.Site) core.Site {
	st.Pools = slices.Clone(st.Pools)
	for i := range st.Pools {
		st.Pools[i].ModelAliases = config.ModelAliases(st.Pools[i].Model)
	}
	return st
}

// topologyNever says why sp's required topology (block or pod) can never
// be met: no pool of its model (at its pinned site) has a block (pod) of
// the nodes it takes; "" when one has, or it requires none.
func topologyNever(sp *core.JobSpec, sites []core.Site) string {
	lvl := sp.Topology
	if lvl != "block" && lvl != "pod" || sp.Accelerators <= 0 {
		return ""
	}
	need := sp.Accelerators.Whole()
	best, at := 0, ""
	for _, st := range sites {
		if sp.Site != "" && st.ID != sp.Site {
			continue
		}
		for _, p := range st.Pools {
			k := p.AccelPerNode
			if k <= 0 || p.Nodes <= 0 || sp.Model != "" && !slices.Contains(strings.Split(sp.Model, "|"), p.Model) {
				continue
			}
			// The nodes it takes in p, as sched counts them (nodesIn).
			per := k
			if sp.PerNode > 0 && sp.PerNode < k {
				per = sp.PerNode
			}
			n := sp.Nodes
			if n <= 1 {
				if need <= k {
					return "" // one node is in one block
				}
				n = (need + per - 1) / per
			}
			npb := p.NodesPerBlock
			if npb <= 0 || npb > p.Nodes {
				npb = p.Nodes
			}
			unit := npb
			if lvl == "pod" {
				bpp := p.BlocksPerPod
				if bpp <= 0 {
					bpp = p.Nodes // one pod
				}
				unit = min(npb*bpp, p.Nodes)
			}
			if n <= unit {
				return ""
			}
			if unit*k > best {
				best, at = unit*k, st.ID+" "+p.Name
			}
		}
	}
	if at == "" {
		return "" // no pool of its model: the broker said so already
	}
	return fmt.Sprintf("topology %s: %d accelerators in one %s; a %s holds at most %d accelerators (%s)", lvl, need, lvl, lvl, best, at)
}
