package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Topology is how tightly a multi-node job's nodes must sit.
type Topology uint8

// Topology levels. The zero value packs as tightly as free capacity allows
// (one block if possible, else one pod, else anywhere) without requiring it.
const (
	TopoPreferred Topology = iota // fewest blocks and pods, not required
	TopoBlock                     // required: all nodes in one block
	TopoPod                       // required: all nodes in one pod
	TopoAny                       // no preference: spread is fine
)

// ParseTopology reads a job spec's topology field: "", "block", "pod", "any".
func ParseTopology(s string) (Topology, error) {
	switch s {
	case "", "preferred":
		return TopoPreferred, nil
	case "block":
		return TopoBlock, nil
	case "pod":
		return TopoPod, nil
	case "any":
		return TopoAny, nil
	}
	return 0, fmt.Errorf("topology %q: want block, pod or any", s)
}

// String names the level as job specs do: "block", "pod", "any", or
// "preferred".
func (t Topology) String() string {
	switch t {
	case TopoBlock:
		return "block"
	case TopoPod:
		return "pod"
	case TopoAny:
		return "any"
	}
	return "preferred"
}

// Request is what a job needs, in the scheduler's terms.
type Request struct {
	Milli          core.Milli // thousandths of an accelerator; < 1000 is a shared device; 0 = CPUs only
	Nodes          int        // explicit node count; 0 = derive from Milli
	PerNode        int        // accelerators per node for multi-node jobs; 0 = whole nodes
	Models         []string   // acceptable models; empty = any
	Site           string     // pinned site; empty = any
	Countries      []string   // residency; empty = anywhere
	CPUsPerAccel   int
	MemMiBPerAccel int
	Topology       Topology

	// CPUs and MemMiB are what the job holds on each node it shares
	// (Slurm's tasks per node × CPUs per task, --mem, --mem-per-cpu);
	// 0 falls back to CPUsPerAccel and MemMiBPerAccel, else to the pool's
	// share per accelerator. MemAll asks for a node's whole memory
	// (--mem=0). A job on whole nodes (a gang, Exclusive) holds all of
	// them anyway.
	CPUs   int
	MemMiB int
	MemAll bool
	// Exclusive asks for whole nodes, shared with no other job
	// (--exclusive): a one-node job holds all of its node.
	Exclusive bool
	// Constraint is a feature expression (ParseConstraint) a pool must
	// meet; one that does not parse is met by none.
	Constraint string
}

// RequestOf derives a request from a job spec, as Slurm reads sbatch's
// options: CPUs per node are tasks per node (--ntasks-per-node, else
// --ntasks spread over --nodes) × --cpus-per-task; memory per node is
// --mem, or --mem-per-cpu × those CPUs, or --mem-per-gpu (MemMiBPerAccel)
// × the accelerators on the node. Accelerators 0 is a CPU-only job, which
// holds one CPU when it asks for none.
func RequestOf(s *core.JobSpec) Request {
	r := Request{
		Milli: max(s.Accelerators, 0), Nodes: s.Nodes, PerNode: s.PerNode, Site: s.Site,
		Countries: s.Residency, CPUsPerAccel: s.CPUsPerAccel, MemMiBPerAccel: s.MemMiBPerAccel,
		MemMiB: s.MemMiBPerNode, MemAll: s.MemAll, Exclusive: s.Exclusive, Constraint: s.Constraint,
	}
	if s.Model != "" {
		r.Models = strings.Split(s.Model, "|")
	}
	r.Topology, _ = ParseTopology(s.Topology)
	r.CPUs = CPUsPerNode(s)
	if r.MemMiB == 0 && !r.MemAll && s.MemMiBPerCPU > 0 {
		r.MemMiB = s.MemMiBPerCPU * max(r.CPUs, 1)
	}
	if r.Milli == 0 && r.CPUs == 0 && r.CPUsPerAccel == 0 {
		r.CPUs = 1
	}
	return r
}

// CPUsPerNode is the CPU cores a spec asks for on each of its nodes, as
// Slurm counts them: tasks per node × CPUs per task, with tasks per node
// from --ntasks-per-node, else --ntasks over --nodes (rounded up), else
// one task when --cpus-per-task is given; 0 when it says nothing of CPUs.
func CPUsPerNode(s *core.JobSpec) int {
	cpt := max(s.CPUsPerTask, 1)
	switch {
	case s.TasksPerNode > 0:
		return s.TasksPerNode * cpt
	case s.Tasks > 0:
		n := max(s.Nodes, 1)
		return (s.Tasks + n - 1) / n * cpt
	case s.CPUsPerTask > 0:
		return s.CPUsPerTask
	}
	return 0
}

// nodesIn returns how many whole nodes r takes in pool p, or 0 when r is a
// single-node request there.
func (r *Request) nodesIn(p *Pool) int {
	if r.Nodes > 1 {
		return r.Nodes
	}
	if r.Nodes == 1 || r.Milli <= core.Milli(p.K)*1000 || p.K == 0 {
		if r.Exclusive {
			return 1
		}
		return 0
	}
	per := p.K
	if r.PerNode > 0 && r.PerNode < per {
		per = r.PerNode
	}
	return (r.Milli.Whole() + per - 1) / per
}

// Eligible returns the pools r may use, in cluster order: matching model,
// site, residency and constraint, at an active site. Accelerator jobs use
// pools with accelerators. A CPU-only job (Milli 0) uses pools that
// declare their CPUs: the CPU-only pools (accelerators_per_node 0) when
// any is eligible, else, as Slurm lets a job without GPUs run on a GPU
// partition, the spare CPUs of accelerator pools' nodes.
func (c *Cluster) Eligible(r *Request) []int {
	var out []int
	cons, err := ParseConstraint(r.Constraint)
	if err != nil {
		return nil
	}
	cpuPools := false
	for _, p := range c.Pools {
		if r.Milli > 0 && p.K == 0 || r.Milli == 0 && p.CPUsPerNode == 0 {
			continue
		}
		if !cons.Match(p.Model, p.Features) {
			continue
		}
		if p.Site.State != "" && p.Site.State != core.SiteActive {
			continue
		}
		if r.Site != "" && r.Site != p.Site.ID {
			continue
		}
		if len(r.Models) > 0 && !slices.Contains(r.Models, p.Model) {
			continue
		}
		if len(r.Countries) > 0 && !slices.Contains(r.Countries, p.Site.Country) {
			continue
		}
		out = append(out, p.Index)
		cpuPools = cpuPools || p.K == 0
	}
	if r.Milli == 0 && cpuPools {
		out = slices.DeleteFunc(out, func(pi int) bool { return c.Pools[pi].K > 0 })
	}
	return out
}

// Code classifies why a request does not fit now.
type Code uint8

// Miss codes.
const (
	MissNone      Code = iota
	MissNoPool         // no eligible pool at all
	MissNever          // larger than any eligible pool could ever hold
	MissResources      // not enough free capacity now
	MissTopology       // enough capacity, but not within the required block/pod
	MissHost           // accelerators free, but not the CPUs or memory beside them
	MissHostNever      // more CPUs or memory per node than any eligible pool's node has
)

// MissNever with Level block or pod: the request would fit the pools, but
// never within one block (pod), which holds at most Best accelerators.
// Without a level, Best > 0 is the most accelerators one gang can hold
// (one pool, or the pools of one model and node size at a site), when
// that is less than eligible pools have in all.

// Miss is why a request did not fit, as data. String renders it for people.
type Miss struct {
	Code  Code
	Need  core.Milli // what was asked
	InUse int        // accelerators in use over eligible pools (rounded up)
	Total int        // accelerators over eligible pools
	Held  int        // free accelerators set aside for reservations
	Level Topology   // for MissTopology, MissNever: the level required
	Best  int        // for MissTopology: the most accelerators free at that level; for MissNever: the most one holds
	CPUs  int        // for MissHost, MissHostNever: CPUs asked per node
	Mem   int        // for MissHost, MissHostNever: MiB asked per node (-1: all of it)
	// for MissHostNever: the most any eligible pool's node has
	MaxCPUs, MaxMem int
}

func accels(m core.Milli) string {
	if m == 1000 {
		return "accelerator"
	}
	return "accelerators"
}

// String renders the miss as a reason people read.
func (m Miss) String() string {
	switch m.Code {
	case MissNoPool:
		if m.Need == 0 {
			return "no pool with CPUs matches the job's site, residency and constraint"
		}
		return "no pool matches the job's model, site and residency"
	case MissHost:
		if m.Need == 0 {
			return "waiting for " + m.hostText() + " on one node"
		}
		asks := ""
		if m.CPUs != 0 || m.Mem != 0 {
			asks = " (it asks for " + m.hostText() + " per node)"
		}
		return fmt.Sprintf("waiting for CPUs or memory: %s %s free, but not the CPUs or memory beside them%s", m.Need, accels(m.Need), asks)
	case MissHostNever:
		return fmt.Sprintf("needs %s per node; eligible nodes have at most %d CPUs and %d MiB", m.hostText(), m.MaxCPUs, m.MaxMem)
	case MissNever:
		if m.Level == TopoBlock || m.Level == TopoPod {
			return fmt.Sprintf("needs %s accelerators in one %s; a %s holds at most %d", m.Need, m.Level, m.Level, m.Best)
		}
		if m.Best > 0 {
			return fmt.Sprintf("needs %s accelerators; eligible pools have %d in all, at most %d of one model and node size at one site", m.Need, m.Total, m.Best)
		}
		return fmt.Sprintf("needs %s accelerators; eligible pools have %d in all", m.Need, m.Total)
	case MissResources:
		if m.Held > 0 {
			return fmt.Sprintf("waiting for %s %s (%d of %d in use, %d free but set aside for reservations)", m.Need, accels(m.Need), m.InUse, m.Total, m.Held)
		}
		return fmt.Sprintf("waiting for %s %s (%d of %d in use)", m.Need, accels(m.Need), m.InUse, m.Total)
	case MissTopology:
		return fmt.Sprintf("needs %s accelerators in one %s; the freest %s has %d free", m.Need, m.Level, m.Level, m.Best)
	}
	return ""
}

func (m Miss) hostText() string {
	var parts []string
	if m.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d CPUs", m.CPUs))
	}
	switch {
	case m.Mem < 0:
		parts = append(parts, "a node's whole memory")
	case m.Mem > 0:
		parts = append(parts, fmt.Sprintf("%d MiB of memory", m.Mem))
	}
	if len(parts) == 0 {
		return "a whole node"
	}
	return strings.Join(parts, " and ")
}

// Explain fills m's counts (accelerators in use and in all over pools)
// from the cluster as it is now, so that a reason rendered later is not
// stale. Devices partly held by fractional jobs count as in use.
func (c *Cluster) Explain(m Miss, pools []int) Miss {
	m.InUse, m.Total, m.Held = 0, 0, 0
	for _, pi := range pools {
		p := c.Pools[pi]
		m.Total += p.Total()
		m.InUse += p.Total() - p.freeDev - p.heldFree
		m.Held += p.heldFree
	}
	return m
}

// Place finds where r fits now among pools (indices into c.Pools, usually
// from Eligible), without committing it. It is deterministic: ties go to
// the lower pool, block and node index.
func (c *Cluster) Place(r *Request, pools []int) (Placement, Miss) {
	return c.PlaceInto(r, pools, nil)
}

// PlaceInto is Place, but a placement on one node of whole devices has
// one[:1] for its Nodes rather than a new slice (one may be nil). A
// caller that keeps placements in records of its own (the engine) saves
// an allocation per job.
func (c *Cluster) PlaceInto(r *Request, pools []int, one *[1]NodeShare) (Placement, Miss) {
	if len(pools) == 0 {
		return Placement{}, Miss{Code: MissNoPool, Need: r.Milli}
	}
	if m, ok := c.hostNever(r, pools); !ok {
		return Placement{}, m
	}
	if len(c.mix) > 0 && r.Nodes <= 1 && !r.Exclusive && r.Milli > 0 && r.Milli.Whole() <= c.maxK(pools) {
		if pl, ok := c.placeFGD(r, pools); ok {
			return pl, Miss{}
		}
	}
	if r.Milli > 0 && r.Milli < 1000 && r.Nodes <= 1 && !r.Exclusive {
		if pl, ok := c.placeFraction(r, pools); ok {
			return pl, Miss{}
		}
	} else if pl, ok := c.placeSingle(r, pools, one); ok {
		return pl, Miss{}
	}
	if pl, ok, topo := c.placeGang(r, pools); ok {
		return pl, Miss{}
	} else if topo.Code != MissNone {
		if m := c.miss(r, pools); m.Code == MissNever {
			return Placement{}, m // no block (pod) could ever hold it
		}
		return Placement{}, topo
	}
	if pl, ok := c.placeSpan(r, pools); ok {
		return pl, Miss{}
	}
	return Placement{}, c.miss(r, pools)
}

func (c *Cluster) miss(r *Request, pools []int) Miss {
	m := Miss{Code: MissResources, Need: r.Milli}
	fits, spread := false, false
	for _, pi := range pools {
		p := c.Pools[pi]
		m.Total += p.Total()
		n := r.nodesIn(p)
		if n == 0 {
			fits = fits || r.Milli.Whole() <= p.K
			continue
		}
		u := p.unitNodes(r.Topology)
		fits = fits || n <= u
		spread = spread || n <= len(p.nodes)
		if n > u && n <= len(p.nodes) {
			m.Best = max(m.Best, u*p.K)
		}
	}
	if !fits && !spread && r.Topology != TopoBlock && r.Topology != TopoPod {
		m.Best = 0
		for _, pi := range pools {
			if p := c.Pools[pi]; r.nodesIn(p) > 0 {
				m.Best = max(m.Best, p.Total())
			}
		}
		if c.spans {
			for _, g := range c.spanGroups(r, pools) {
				fits = fits || g.nodes >= g.n
				m.Best = max(m.Best, g.nodes*c.Pools[g.pools[0]].K)
			}
		}
	}
	if !fits {
		m.Code = MissNever
		if spread {
			m.Level = r.Topology
		} else if m.Best >= m.Total {
			m.Best = 0 // all of them would not do either: say so
		}
		return m
	}
	if c.devicesFit(r, pools) {
		m.Code, m.CPUs, m.Mem = MissHost, r.CPUs, r.MemMiB
		if r.MemAll {
			m.Mem = -1
		}
	}
	return m
}

// hostNeeds reports whether r asks for CPUs or memory of its own rather
// than the pool's share per accelerator, which fits beside the other
// accelerator jobs' shares.
func (r *Request) hostNeeds() bool {
	return r.CPUs > 0 || r.MemMiB > 0 || r.MemAll || r.CPUsPerAccel > 0 || r.MemMiBPerAccel > 0
}

// devicesFit reports whether r's accelerators alone would fit pools now:
// then what keeps it waiting is CPUs or memory.
func (c *Cluster) devicesFit(r *Request, pools []int) bool {
	for _, pi := range pools {
		p := c.Pools[pi]
		if n := r.nodesIn(p); n > 0 {
			if p.NodesWithFree(p.K) >= n {
				return true
			}
			continue
		}
		if w := r.Milli.Whole(); w <= p.K && p.NodesWithFree(w) > 0 {
			return true
		}
	}
	return false
}

// hostNever returns a MissHostNever when r asks for more CPUs or memory
// per node than any of pools' nodes has (pools that do not declare them
// count as large enough).
func (c *Cluster) hostNever(r *Request, pools []int) (Miss, bool) {
	if r.CPUs == 0 && r.MemMiB == 0 {
		return Miss{}, true
	}
	m := Miss{Code: MissHostNever, Need: r.Milli, CPUs: r.CPUs, Mem: r.MemMiB}
	for _, pi := range pools {
		p := c.Pools[pi]
		if (p.CPUsPerNode == 0 || r.CPUs <= p.CPUsPerNode) && (p.MemMiBPerNode == 0 || r.MemMiB <= p.MemMiBPerNode) {
			return Miss{}, true
		}
		m.MaxCPUs, m.MaxMem = max(m.MaxCPUs, p.CPUsPerNode), max(m.MaxMem, p.MemMiBPerNode)
	}
	return m, false
}

// cpuFor is what r holds on one node of p beside milli of its
// accelerators: its own CPUs and memory per node if it asks for them,
// else per accelerator, else the pool's share per accelerator.
func (p *Pool) cpuFor(r *Request, milli core.Milli) (cpu, mem int32) {
	switch {
	case r.CPUs > 0:
		cpu = int32(r.CPUs)
	case r.CPUsPerAccel > 0:
		cpu = int32((int64(r.CPUsPerAccel)*int64(milli) + 999) / 1000)
	case p.CPUsPerNode > 0 && p.K > 0:
		cpu = int32(int64(p.CPUsPerNode) * int64(milli) / (int64(p.K) * 1000))
	}
	switch {
	case r.MemAll:
		mem = int32(p.MemMiBPerNode)
	case r.MemMiB > 0:
		mem = int32(r.MemMiB)
	case r.MemMiBPerAccel > 0:
		mem = int32((int64(r.MemMiBPerAccel)*int64(milli) + 999) / 1000)
	case p.MemMiBPerNode > 0 && p.K > 0:
		mem = int32(int64(p.MemMiBPerNode) * int64(milli) / (int64(p.K) * 1000))
	}
	return cpu, mem
}

// hostFits reports whether node i has cpu CPUs and mem MiB left. Every
// one-node placement asks it: a CPU-only job may hold CPUs of a node whose
// accelerators are free, so a share per accelerator no longer always fits.
func (p *Pool) hostFits(i int, cpu, mem int32) bool {
	n := &p.nodes[i]
	return (p.CPUsPerNode == 0 || n.cpu+cpu <= int32(p.CPUsPerNode)) &&
		(p.MemMiBPerNode == 0 || n.mem+mem <= int32(p.MemMiBPerNode))
}

// isWhole reports whether node i is entirely free: no device, CPU or
// memory held.
func (p *Pool) isWhole(i int) bool {
	n := &p.nodes[i]
	return n.used == 0 && n.cpu == 0 && n.mem == 0
}

// placeSingle places a request of w whole devices on one node: best fit
// (the node with the fewest free devices that still fit, so whole nodes and
// blocks stay free for gangs), lowest index on ties.
func (c *Cluster) placeSingle(r *Request, pools []int, one *[1]NodeShare) (Placement, bool) {
	w := r.Milli.Whole()
	bestPool, bestF := -1, MaxAccelPerNode+1
	if r.Nodes > 1 || r.Exclusive {
		return Placement{}, false
	}
	for _, pi := range pools {
		if w > int(c.poolK[pi]) {
			continue
		}
		m := c.nonEmpty[pi] &^ (1<<uint(w) - 1)
		if m == 0 {
			continue
		}
		if f := bits.TrailingZeros64(m); f < bestF {
			bestPool, bestF = pi, f
		}
	}
	if bestPool < 0 {
		return Placement{}, false
	}
	// The best pool by free count may fail the CPU/memory check; then try
	// the others in order.
	try := func(pi int) (Placement, bool) {
		p := c.Pools[pi]
		milli := core.Milli(w) * 1000
		cpu, mem := p.cpuFor(r, milli)
		for m := *p.nonEmpty &^ (1<<uint(w) - 1); m != 0; m &= m - 1 {
			f := bits.TrailingZeros64(m)
			b := &p.bucket[f]
			for i := b.next(0); i >= 0; i = b.next(i + 1) {
				if !p.hostFits(i, cpu, mem) {
					continue
				}
				mask := lowFree(p.nodes[i].used, p.K, w)
				ns := NodeShare{Node: int32(i), Mask: mask, CPUs: cpu, MemMiB: mem}
				if one == nil {
					return Placement{Pool: pi, Nodes: []NodeShare{ns}}, true
				}
				one[0] = ns
				return Placement{Pool: pi, Nodes: one[:1:1]}, true
			}
		}
		return Placement{}, false
	}
	if pl, ok := try(bestPool); ok {
		return pl, true
	}
	for _, pi := range pools {
		if pi != bestPool && w <= c.Pools[pi].K && r.Nodes <= 1 {
			if pl, ok := try(pi); ok {
				return pl, true
			}
		}
	}
	return Placement{}, false
}

// lowFree returns the mask of the w lowest free devices of a node.
func lowFree(used uint64, k, w int) uint64 {
	free := ^used
	if k < 64 {
		free &= 1<<uint(k) - 1
	}
	var m uint64
	for ; w > 0; w-- {
		b := free & -free
		m |= b
		free &^= b
	}
	return m
}

// placeFraction places a share of one device: on the already shared device
// with the least room that still fits, else on a fresh device chosen like
// a one-device request.
func (c *Cluster) placeFraction(r *Request, pools []int) (Placement, bool) {
	bestPool, bestKey, bestRoom := -1, int32(0), core.Milli(1001)
	for _, pi := range pools {
		p := c.Pools[pi]
		for _, key := range p.partial {
			room := 1000 - p.frac[key]
			if room < r.Milli || room >= bestRoom {
				continue
			}
			i := int(key >> 6)
			if p.nodes[i].hs != nil {
				continue
			}
			cpu, mem := p.cpuFor(r, r.Milli)
			if !p.hostFits(i, cpu, mem) {
				continue
			}
			bestPool, bestKey, bestRoom = pi, key, room
		}
	}
	if bestPool >= 0 {
		p := c.Pools[bestPool]
		cpu, mem := p.cpuFor(r, r.Milli)
		return Placement{Pool: bestPool, Nodes: []NodeShare{{Node: bestKey >> 6, Mask: 1 << uint(bestKey&63), Milli: r.Milli, CPUs: cpu, MemMiB: mem}}}, true
	}
	whole := *r
	whole.Milli = 1000
	pl, ok := c.placeSingle(&whole, pools, nil)
	if ok {
		p := c.Pools[pl.Pool]
		pl.Nodes[0].Milli = r.Milli
		pl.Nodes[0].CPUs, pl.Nodes[0].MemMiB = p.cpuFor(r, r.Milli)
	}
	return pl, ok
}

// gangFit is how a multi-node request fits a pool now.
type gangFit struct {
	pool  int
	level Topology // TopoBlock, TopoPod or TopoAny: the tightest level it fits
	slack int32    // free whole nodes left at that level (best fit)
	unit  int      // the block or pod chosen
}

// placeGang places a multi-node request on whole nodes: in one block if
// any block has room (the block with the least room that fits), else in
// one pod (fewest blocks), else across pods, unless the request requires a
// level. The returned Miss is set when capacity exists but not at the
// required level.
func (c *Cluster) placeGang(r *Request, pools []int) (Placement, bool, Miss) {
	best := gangFit{pool: -1}
	topoMiss := Miss{}
	for _, pi := range pools {
		p := c.Pools[pi]
		n := r.nodesIn(p)
		if n == 0 || p.whole < n {
			continue
		}
		if cpu, mem := p.cpuFor(r, core.Milli(p.K)*1000); cpu > int32(p.CPUsPerNode) && p.CPUsPerNode > 0 || mem > int32(p.MemMiBPerNode) && p.MemMiBPerNode > 0 {
			continue
		}
		f := gangFit{pool: pi, level: TopoAny, slack: int32(p.whole - n), unit: -1}
		if r.Topology != TopoAny {
			if b, slack := p.bestUnit(p.blockWhole, n); b >= 0 {
				f = gangFit{pool: pi, level: TopoBlock, slack: slack, unit: b}
			} else if r.Topology != TopoBlock {
				if d, slack := p.bestUnit(p.podWhole, n); d >= 0 {
					f = gangFit{pool: pi, level: TopoPod, slack: slack, unit: d}
				}
			}
		}
		if r.Topology == TopoBlock && f.level != TopoBlock || r.Topology == TopoPod && f.level > TopoPod {
			lvl := p.blockWhole
			if r.Topology == TopoPod {
				lvl = p.podWhole
			}
			mx := int(slices.Max(lvl)) * p.K
			if topoMiss.Code == MissNone || mx > topoMiss.Best {
				topoMiss = Miss{Code: MissTopology, Need: r.Milli, Level: r.Topology, Best: mx}
			}
			continue
		}
		if best.pool < 0 || f.level < best.level || f.level == best.level && f.slack < best.slack {
			best = f
		}
	}
	if best.pool < 0 {
		return Placement{}, false, topoMiss
	}
	p := c.Pools[best.pool]
	n := r.nodesIn(p)
	pl := Placement{Pool: best.pool, Nodes: make([]NodeShare, 0, n)}
	all := uint64(1)<<uint(p.K) - 1
	if p.K == 64 {
		all = ^uint64(0)
	}
	cpu, mem := int32(p.CPUsPerNode), int32(p.MemMiBPerNode)
	take := func(b int) {
		lo, hi := b*p.NodesPerBlock, min((b+1)*p.NodesPerBlock, len(p.nodes))
		bs := &p.bucket[p.K]
		for i := bs.next(lo); i >= 0 && i < hi && len(pl.Nodes) < n; i = bs.next(i + 1) {
			if !p.isWhole(i) {
				continue // a CPU-only job holds part of it
			}
			pl.Nodes = append(pl.Nodes, NodeShare{Node: int32(i), Mask: all, CPUs: cpu, MemMiB: mem})
		}
	}
	switch best.level {
	case TopoBlock:
		take(best.unit)
	case TopoPod:
		for _, b := range p.blocksByRoom(best.unit) {
			take(b)
		}
	default:
		pods := make([]int, len(p.podWhole))
		for i := range pods {
			pods[i] = i
		}
		sortByRoom(pods, p.podWhole)
		for _, d := range pods {
			if len(pl.Nodes) >= n {
				break
			}
			for _, b := range p.blocksByRoom(d) {
				take(b)
			}
		}
	}
	return pl, true, Miss{}
}

// bestUnit returns the unit (block or pod) with the fewest free whole
// nodes that still holds n, and the nodes it would have left.
func (p *Pool) bestUnit(whole []int32, n int) (int, int32) {
	best, slack := -1, int32(0)
	for u, w := range whole {
		if int(w) >= n && (best < 0 || w-int32(n) < slack) {
			best, slack = u, w-int32(n)
			if slack == 0 {
				break
			}
		}
	}
	return best, slack
}

// blocksByRoom lists pod d's blocks with free whole nodes, most first.
func (p *Pool) blocksByRoom(d int) []int {
	lo, hi := d*p.BlocksPerPod, min((d+1)*p.BlocksPerPod, len(p.blockWhole))
	var bs []int
	for b := lo; b < hi; b++ {
		if p.blockWhole[b] > 0 {
			bs = append(bs, b)
		}
	}
	sortByRoom(bs, p.blockWhole)
	return bs
}

func sortByRoom(units []int, whole []int32) {
	slices.SortStableFunc(units, func(a, b int) int {
		if whole[a] != whole[b] {
			return int(whole[b] - whole[a])
		}
		return a - b
	})
}

func core1000(m core.Milli, w int) core.Milli {
	if m < 1000 {
		return m
	}
	return core.Milli(w) * 1000
}

// Devices is how many whole devices r holds in pool p: whole nodes for a
// multi-node request, else its accelerators rounded up.
func (r *Request) Devices(p *Pool) int {
	if n := r.nodesIn(p); n > 0 {
		return n * p.K
	}
	return r.Milli.Whole()
}

func (c *Cluster) maxK(pools []int) int {
	k := 0
	for _, pi := range pools {
		k = max(k, c.Pools[pi].K)
	}
	return k
}

// unitNodes is the most nodes of p within one unit of topology t: a
// block, a pod, else the pool.
func (p *Pool) unitNodes(t Topology) int {
	switch t {
	case TopoBlock:
		return p.NodesPerBlock
	case TopoPod:
		return min(p.NodesPerBlock*p.BlocksPerPod, len(p.nodes))
	}
	return len(p.nodes)
}

// takeWhole appends to out the entirely free available nodes of block b
// of p, lowest first, until out has n; each holds all of its node.
func (p *Pool) takeWhole(b, n int, out []NodeShare) []NodeShare {
	all := uint64(1)<<uint(p.K) - 1
	if p.K == 64 {
		all = ^uint64(0)
	}
	cpu, mem := int32(p.CPUsPerNode), int32(p.MemMiBPerNode)
	lo, hi := b*p.NodesPerBlock, min((b+1)*p.NodesPerBlock, len(p.nodes))
	bs := &p.bucket[p.K]
	for i := bs.next(lo); i >= 0 && i < hi && len(out) < n; i = bs.next(i + 1) {
		if !p.isWhole(i) {
			continue // a CPU-only job holds part of it
		}
		out = append(out, NodeShare{Node: int32(i), Mask: all, CPUs: cpu, MemMiB: mem})
	}
	return out
}

// spanGroup is a set of pools a gang may span: one site, one model, one
// node size, so that the gang's nodes are alike wherever they lie.
type spanGroup struct {
	pools []int // ascending
	n     int   // nodes the gang takes (the same in each of pools)
	whole int   // entirely free available nodes over pools
	nodes int   // nodes over pools
}

// spanGroups groups the pools a multi-node request r could take whole
// nodes of (their nodes hold its CPUs and memory) by site, model and
// node size; only groups of two pools or more, in order of their first
// pool.
func (c *Cluster) spanGroups(r *Request, pools []int) []spanGroup {
	var gs []spanGroup
	for _, pi := range pools {
		p := c.Pools[pi]
		n := r.nodesIn(p)
		if n == 0 || !p.mate {
			continue
		}
		if cpu, mem := p.cpuFor(r, core.Milli(p.K)*1000); cpu > int32(p.CPUsPerNode) && p.CPUsPerNode > 0 || mem > int32(p.MemMiBPerNode) && p.MemMiBPerNode > 0 {
			continue
		}
		k := -1
		for i := range gs {
			q := c.Pools[gs[i].pools[0]]
			if q.Site == p.Site && q.Model == p.Model && q.K == p.K {
				k = i
				break
			}
		}
		if k < 0 {
			gs = append(gs, spanGroup{n: n})
			k = len(gs) - 1
		}
		g := &gs[k]
		g.pools = append(g.pools, pi)
		g.whole += p.whole
		g.nodes += len(p.nodes)
	}
	return slices.DeleteFunc(gs, func(g spanGroup) bool { return len(g.pools) < 2 })
}

// placeSpan places a gang that no one pool can hold now across the pools
// of one site, model and node size (a whole-site job): the group with
// the fewest free whole nodes that still hold it (best fit, as for one
// pool), and in it the pods with the most free whole nodes first, so the
// gang fills the fewest pods, and in each pod the fullest blocks first,
// so it fills the fewest blocks. A required block or pod never spans:
// both lie inside one pool.
func (c *Cluster) placeSpan(r *Request, pools []int) (Placement, bool) {
	if !c.spans || len(pools) < 2 || r.Topology == TopoBlock || r.Topology == TopoPod {
		return Placement{}, false
	}
	best := -1
	gs := c.spanGroups(r, pools)
	for i, g := range gs {
		if g.whole >= g.n && (best < 0 || g.whole < gs[best].whole) {
			best = i
		}
	}
	if best < 0 {
		return Placement{}, false
	}
	g := gs[best]
	type unit struct {
		pool, pod int
		whole     int32
	}
	var units []unit
	for _, pi := range g.pools {
		p := c.Pools[pi]
		for d, w := range p.podWhole {
			if w > 0 {
				units = append(units, unit{pi, d, w})
			}
		}
	}
	// Most room first; ties to the lower pool, then pod.
	slices.SortStableFunc(units, func(a, b unit) int {
		if a.whole != b.whole {
			return int(b.whole - a.whole)
		}
		if a.pool != b.pool {
			return a.pool - b.pool
		}
		return a.pod - b.pod
	})
	parts := map[int][]NodeShare{}
	taken := 0
	for _, u := range units {
		if taken >= g.n {
			break
		}
		p := c.Pools[u.pool]
		before := len(parts[u.pool])
		for _, b := range p.blocksByRoom(u.pod) {
			parts[u.pool] = p.takeWhole(b, before+g.n-taken, parts[u.pool])
		}
		taken += len(parts[u.pool]) - before
	}
	if taken < g.n {
		return Placement{}, false // the counters said otherwise: place nothing
	}
	var pl Placement
	for _, pi := range g.pools {
		ns := parts[pi]
		if len(ns) == 0 {
			continue
		}
		if pl.Nodes == nil {
			pl = Placement{Pool: pi, Nodes: ns}
		} else {
			pl.More = append(pl.More, Placement{Pool: pi, Nodes: ns})
		}
	}
	return pl, true
}
