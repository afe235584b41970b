package sched

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// MaxAccelPerNode is the most accelerators one node may have: a node's
// devices are one 64-bit mask.
const MaxAccelPerNode = 64

// Cluster is the capacity picture of a set of sites: every pool's nodes,
// which devices are held, and counters per block and pod that make
// placement cheap at hundreds of thousands of accelerators.
//
// A Cluster is not safe for concurrent use; the engine owns one.
type Cluster struct {
	Pools []*Pool
	Sites []*SiteInfo
	byKey map[string]*Pool // "site/pool"

	mix       RequestMix // one-node placement policy: FGD when set, else best fit
	fragCands int

	// nonEmpty and poolK are each pool's Pool.nonEmpty and K side by
	// side, by pool index: a one-node placement looks at every eligible
	// pool (32 on the EU network), and each Pool is cache lines of
	// its own.
	nonEmpty []uint64
	poolK    []int32

	boxes []*Box // handed back (FreeBox), for reuse

	// spans is whether some pool has a mate a gang may span to (see
	// Pool.mate): when none has, as on the EU network, no placement
	// looks for a span.
	spans bool
}

// SiteInfo is the part of a core.Site the scheduler filters on.
type SiteInfo struct {
	ID      string
	Country string
	State   string
	Pools   []*Pool
	// Span is whether one gang may span the site's pools (CanSpan).
	Span bool
}

// CanSpan reports whether a gang may span several pools of site s. Not
// on a Slurm site: a Slurm job runs in one partition, and the driver
// makes one pool per partition and node shape, so two pools of one
// model and node size there are two partitions.
func CanSpan(s *core.Site) bool { return s.Driver != "slurm" }

// Pool is a set of identical nodes at one site, grouped into blocks (leaf
// switch, NVLink domain) and blocks into pods (spine).
type Pool struct {
	Index         int // position in Cluster.Pools
	Site          *SiteInfo
	Name          string
	Model         string
	K             int // accelerators per node; 0 for a pool of CPUs only
	NodesPerBlock int
	BlocksPerPod  int
	CPUsPerNode   int
	MemMiBPerNode int
	Features      []string // for constraints; Model counts too

	// mate is whether another pool of the site has the same model and
	// node size, and the site lets a gang span them (SiteInfo.Span).
	mate bool

	nodes      []node
	bucket     []bitset // bucket[f]: available nodes with exactly f free devices
	cnt        []int32  // members of bucket[f]
	nonEmpty   *uint64  // bit f set when cnt[f] > 0; in its cluster's nonEmpty
	blockWhole []int32  // available, entirely free nodes per block
	podWhole   []int32  // same per pod
	blockFree  []int32  // free devices per block (available nodes)
	whole      int      // entirely free available nodes
	freeDev    int      // free whole devices on available nodes
	heldFree   int      // free whole devices on held nodes
	usedMilli  core.Milli
	frac       map[int32]core.Milli // node<<6|dev -> milli used on a shared device
	partial    []int32              // keys of frac, ascending

	// Time picture, for reservations and estimated starts: when each
	// device is expected to be free (unix seconds; 0 = free), and per
	// block a lazily rebuilt summary of it.
	devEnd []int64
	// hostEnd is, per node, the latest expected end of the jobs that hold
	// its CPUs or memory and none of its devices (CPU-only jobs), back to
	// 0 once the node is empty: the time at which the node is whole again
	// is the later of it and its devices' ends.
	hostEnd []int64
	dirty   []bool    // block summary stale
	blockAt [][]int64 // [block][w]: earliest time some available node of the block has w free devices
	wholeAt [][]int64 // [block]: sorted times at which its available nodes are entirely free
	scratch []int64   // reused by nthWhole

	// names holds every node's name, made on first use, back to back by
	// number of digits (names[d] has the names of d+1 digits, each
	// nameLen[d] bytes), so that NodeName slices a name out by arithmetic
	// instead of loading a string header: a start names its node, and
	// a table of headers for 70,000 nodes left the cache.
	names   []string
	nameLen []int
}

type node struct {
	used uint64   // devices held, wholly or partly
	cpu  int32    // CPUs held
	mem  int32    // MiB held
	hs   *HoldSet // set aside for a reservation; then in its buckets, not the pool's
}

// NewCluster builds the capacity picture of sites, all nodes free. Pools
// with more than MaxAccelPerNode accelerators per node are rejected.
func NewCluster(sites []core.Site) (*Cluster, error) {
	c := &Cluster{byKey: map[string]*Pool{}}
	for _, s := range sites {
		si := &SiteInfo{ID: s.ID, Country: s.Country, State: s.State, Span: CanSpan(&s)}
		c.Sites = append(c.Sites, si)
		for _, p := range s.Pools {
			if p.AccelPerNode < 0 || p.AccelPerNode > MaxAccelPerNode || p.Nodes <= 0 {
				return nil, fmt.Errorf("site %s pool %s: %d nodes of %d accelerators (want 0..%d per node)", s.ID, p.Name, p.Nodes, p.AccelPerNode, MaxAccelPerNode)
			}
			if p.AccelPerNode == 0 && p.CPUsPerNode <= 0 {
				return nil, fmt.Errorf("site %s pool %s: a pool without accelerators must declare cpus_per_node", s.ID, p.Name)
			}
			pl := newPool(p)
			pl.Site = si
			pl.Index = len(c.Pools)
			c.Pools = append(c.Pools, pl)
			si.Pools = append(si.Pools, pl)
			c.byKey[s.ID+"/"+p.Name] = pl
		}
	}
	for _, si := range c.Sites {
		for i, p := range si.Pools {
			for _, q := range si.Pools[i+1:] {
				if si.Span && p.K > 0 && p.Model == q.Model && p.K == q.K {
					p.mate, q.mate, c.spans = true, true, true
				}
			}
		}
	}
	c.nonEmpty = make([]uint64, len(c.Pools))
	c.poolK = make([]int32, len(c.Pools))
	for i, p := range c.Pools {
		c.nonEmpty[i] = *p.nonEmpty
		p.nonEmpty = &c.nonEmpty[i]
		c.poolK[i] = int32(p.K)
	}
	return c, nil
}

func newPool(p core.Pool) *Pool {
	npb := p.NodesPerBlock
	if npb <= 0 || npb > p.Nodes {
		npb = p.Nodes
	}
	nblocks := (p.Nodes + npb - 1) / npb
	bpp := p.BlocksPerPod
	if bpp <= 0 || bpp > nblocks {
		bpp = nblocks
	}
	npods := (nblocks + bpp - 1) / bpp
	pl := &Pool{
		Name: p.Name, Model: p.Model, K: p.AccelPerNode,
		NodesPerBlock: npb, BlocksPerPod: bpp,
		CPUsPerNode: p.CPUsPerNode, MemMiBPerNode: p.MemMiBPerNode, Features: p.Features,
		nonEmpty:   new(uint64),
		nodes:      make([]node, p.Nodes),
		bucket:     make([]bitset, p.AccelPerNode+1),
		cnt:        make([]int32, p.AccelPerNode+1),
		blockWhole: make([]int32, nblocks),
		podWhole:   make([]int32, npods),
		blockFree:  make([]int32, nblocks),
		frac:       map[int32]core.Milli{},
	}
	pl.devEnd = make([]int64, p.Nodes*p.AccelPerNode)
	pl.hostEnd = make([]int64, p.Nodes)
	pl.dirty = make([]bool, nblocks)
	pl.blockAt = make([][]int64, nblocks)
	pl.wholeAt = make([][]int64, nblocks)
	for b := range pl.dirty {
		pl.dirty[b] = true
	}
	for f := range pl.bucket {
		pl.bucket[f] = newBitset(p.Nodes)
	}
	for i := range pl.nodes {
		pl.enter(i)
	}
	return pl
}

// NodesWithFree counts the available (not held) nodes with at least d
// free devices.
func (p *Pool) NodesWithFree(d int) int {
	n := 0
	for f := max(d, 0); f < len(p.cnt); f++ {
		n += int(p.cnt[f])
	}
	return n
}

// Nodes is the number of nodes in the pool.
func (p *Pool) Nodes() int { return len(p.nodes) }

// Blocks is the number of blocks in the pool.
func (p *Pool) Blocks() int { return len(p.blockWhole) }

// Total is the pool's number of accelerators.
func (p *Pool) Total() int { return len(p.nodes) * p.K }

// Free is the number of whole free accelerators on available nodes.
func (p *Pool) Free() int { return p.freeDev }

// WholeNodes is the number of entirely free available nodes.
func (p *Pool) WholeNodes() int { return p.whole }

// UsedMilli is the amount held by jobs, in thousandths.
func (p *Pool) UsedMilli() core.Milli { return p.usedMilli }

// NodeName is the name of node i: "POOL-NNNN".
func (p *Pool) NodeName(i int) string {
	if i < 0 || i >= len(p.nodes) {
		return p.nodeName(i)
	}
	if p.names == nil {
		p.buildNames()
	}
	d, lo := 0, 0
	if i >= 10000 {
		// Names have 4 digits at least: "gpu-0007", then "gpu-10000".
		d, lo = 1, 10000
		for lo*10 <= i {
			d, lo = d+1, lo*10
		}
	}
	w := p.nameLen[d]
	return p.names[d][(i-lo)*w : (i-lo+1)*w]
}

// buildNames makes the names NodeName slices.
func (p *Pool) buildNames() {
	var b []byte
	for i := range p.nodes {
		if i == 10000 || i > 10000 && isPow10(i) {
			p.names = append(p.names, string(b))
			b = b[:0]
		}
		n := p.nodeName(i)
		if len(p.nameLen) == len(p.names) {
			p.nameLen = append(p.nameLen, len(n))
		}
		b = append(b, n...)
	}
	p.names = append(p.names, string(b))
	if len(p.nameLen) < len(p.names) {
		p.nameLen = append(p.nameLen, 0)
	}
}

func isPow10(i int) bool {
	for i >= 10 && i%10 == 0 {
		i /= 10
	}
	return i == 1
}

func (p *Pool) nodeName(i int) string {
	var buf [64]byte
	b := append(buf[:0], p.Name...)
	b = append(b, '-')
	for d := 1000; d > 1 && i < d; d /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(i), 10)
	return string(b)
}

// BlockOf returns the block of node i.
func (p *Pool) BlockOf(i int) int { return i / p.NodesPerBlock }

// BlockName names block b for people: "POOL/bN".
func (p *Pool) BlockName(b int) string { return fmt.Sprintf("%s/b%d", p.Name, b) }

func (p *Pool) freeOf(i int) int { return p.K - bits.OnesCount64(p.nodes[i].used) }

// enter puts available node i into the counters for its free count.
func (p *Pool) enter(i int) {
	f := p.freeOf(i)
	p.bucket[f].set(i)
	p.cnt[f]++
	*p.nonEmpty |= 1 << uint(f)
	b := i / p.NodesPerBlock
	p.blockFree[b] += int32(f)
	p.freeDev += f
	if f == p.K && p.nodes[i].cpu == 0 && p.nodes[i].mem == 0 {
		p.blockWhole[b]++
		p.podWhole[b/p.BlocksPerPod]++
		p.whole++
	}
}

// leave takes node i out of the counters (before a change, or to hold it).
func (p *Pool) leave(i int) {
	f := p.freeOf(i)
	p.bucket[f].clear(i)
	p.cnt[f]--
	if p.cnt[f] == 0 {
		*p.nonEmpty &^= 1 << uint(f)
	}
	b := i / p.NodesPerBlock
	p.blockFree[b] -= int32(f)
	p.freeDev -= f
	if f == p.K && p.nodes[i].cpu == 0 && p.nodes[i].mem == 0 {
		p.blockWhole[b]--
		p.podWhole[b/p.BlocksPerPod]--
		p.whole--
	}
}

// Pool returns the pool named name at site, or nil.
func (c *Cluster) Pool(site, name string) *Pool { return c.byKey[site+"/"+name] }

// Total is the number of accelerators over all pools.
func (c *Cluster) Total() int {
	n := 0
	for _, p := range c.Pools {
		n += p.Total()
	}
	return n
}

// Placement is where a job goes: one pool and, per node, the devices it
// takes. It is the scheduler's compact form of a core.Allocation.
//
// A gang that spans pools (of one model and node size, at one site: see
// placeSpan) keeps its first pool's part in Pool and Nodes and the
// others' in More, by pool index, each a single-pool Placement with no
// More of its own. Every other placement has More nil, so the one-pool
// paths pay one nil test for it.
type Placement struct {
	Pool  int
	Nodes []NodeShare
	More  []Placement
}

// Parts calls f with each single-pool part of the placement: itself
// (without More), then each of More.
func (pl *Placement) Parts(f func(part *Placement)) {
	if pl.More == nil {
		f(pl)
		return
	}
	first := Placement{Pool: pl.Pool, Nodes: pl.Nodes}
	f(&first)
	for i := range pl.More {
		f(&pl.More[i])
	}
}

// Spans reports whether the placement spans several pools.
func (pl *Placement) Spans() bool { return len(pl.More) > 0 }

// NodeShare is a job's share of one node.
type NodeShare struct {
	Node   int32
	Mask   uint64     // devices held
	Milli  core.Milli // for a fractional share of the single device in Mask; 0 = whole devices
	CPUs   int32
	MemMiB int32
}

// Milli is the amount of accelerators the placement holds.
func (pl *Placement) Milli() core.Milli {
	var m core.Milli
	for _, n := range pl.Nodes {
		if n.Milli > 0 {
			m += n.Milli
		} else {
			m += core.Milli(bits.OnesCount64(n.Mask)) * 1000
		}
	}
	for i := range pl.More {
		m += pl.More[i].Milli()
	}
	return m
}

// Commit marks a placement's resources held until end (unix seconds; the
// expected end, start plus walltime, used for reservations). It does not
// check that they were free: callers commit what Place returned or what a
// site reports.
func (c *Cluster) Commit(pl *Placement, end int64) {
	for i := range pl.More {
		c.Commit(&pl.More[i], end)
	}
	p := c.Pools[pl.Pool]
	for _, s := range pl.Nodes {
		i := int(s.Node)
		n := &p.nodes[i]
		p.dirty[i/p.NodesPerBlock] = true
		for m := s.Mask; m != 0; m &= m - 1 {
			d := i*p.K + bits.TrailingZeros64(m)
			p.devEnd[d] = max(p.devEnd[d], end)
		}
		if s.Mask == 0 {
			p.hostEnd[i] = max(p.hostEnd[i], end)
		}
		if n.hs == nil {
			p.leave(i)
		} else {
			p.heldFree -= p.freeOf(i)
			n.hs.leave(i)
		}
		if s.Milli > 0 {
			d := bits.TrailingZeros64(s.Mask)
			key := int32(i)<<6 | int32(d)
			if _, ok := p.frac[key]; !ok {
				p.addPartial(key)
			}
			p.frac[key] += s.Milli
			p.usedMilli += s.Milli
		} else {
			p.usedMilli += core.Milli(bits.OnesCount64(s.Mask&^n.used)) * 1000
		}
		n.used |= s.Mask
		n.cpu += s.CPUs
		n.mem += s.MemMiB
		if n.hs == nil {
			p.enter(i)
		} else {
			p.heldFree += p.freeOf(i)
			n.hs.enter(i)
		}
	}
}

// Warm reads the state of pl's nodes that Release will read, and returns
// a checksum of it (see engine.Engine.Warm).
func (c *Cluster) Warm(pl *Placement) uint64 {
	if pl.Pool < 0 || pl.Pool >= len(c.Pools) {
		return 0
	}
	p := c.Pools[pl.Pool]
	var x uint64
	for i := range pl.More {
		x += c.Warm(&pl.More[i])
	}
	for _, s := range pl.Nodes {
		i := int(s.Node)
		if i < 0 || i >= len(p.nodes) {
			continue
		}
		x += p.nodes[i].used
		if k := i * p.K; k < len(p.devEnd) {
			x += uint64(p.devEnd[k])
		}
	}
	return x
}

// Release frees a committed placement's resources.
func (c *Cluster) Release(pl *Placement) {
	for i := range pl.More {
		c.Release(&pl.More[i])
	}
	p := c.Pools[pl.Pool]
	for _, s := range pl.Nodes {
		i := int(s.Node)
		n := &p.nodes[i]
		p.dirty[i/p.NodesPerBlock] = true
		if n.hs == nil {
			p.leave(i)
		} else {
			p.heldFree -= p.freeOf(i)
			n.hs.leave(i)
		}
		if s.Milli > 0 {
			d := bits.TrailingZeros64(s.Mask)
			key := int32(i)<<6 | int32(d)
			p.frac[key] -= s.Milli
			p.usedMilli -= s.Milli
			if p.frac[key] <= 0 {
				delete(p.frac, key)
				p.removePartial(key)
				n.used &^= s.Mask
			}
		} else {
			p.usedMilli -= core.Milli(bits.OnesCount64(s.Mask&n.used)) * 1000
			n.used &^= s.Mask
		}
		for m := s.Mask &^ n.used; m != 0; m &= m - 1 {
			p.devEnd[i*p.K+bits.TrailingZeros64(m)] = 0
		}
		n.cpu -= s.CPUs
		n.mem -= s.MemMiB
		if n.used == 0 && n.cpu == 0 && n.mem == 0 {
			p.hostEnd[i] = 0
		}
		if n.hs == nil {
			p.enter(i)
		} else {
			p.heldFree += p.freeOf(i)
			n.hs.enter(i)
		}
	}
}

func (p *Pool) addPartial(key int32) {
	i := lowerBound(p.partial, key)
	p.partial = append(p.partial, 0)
	copy(p.partial[i+1:], p.partial[i:])
	p.partial[i] = key
}

func (p *Pool) removePartial(key int32) {
	i := lowerBound(p.partial, key)
	if i < len(p.partial) && p.partial[i] == key {
		p.partial = append(p.partial[:i], p.partial[i+1:]...)
	}
}

func lowerBound(s []int32, v int32) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := (lo + hi) / 2
		if s[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Allocation converts a placement into the wire form. A placement that
// spans pools has Pool list them (core.PoolSep) and its nodes part after
// part; their names say their pool.
func (c *Cluster) Allocation(pl *Placement) core.Allocation {
	if pl.More != nil {
		return c.allocationSpan(pl)
	}
	p := c.Pools[pl.Pool]
	a := core.Allocation{Site: p.Site.ID, Pool: p.Name, Nodes: make([]core.NodeAlloc, 0, len(pl.Nodes))}
	n := 0
	for _, s := range pl.Nodes {
		n += bits.OnesCount64(s.Mask)
	}
	devs := make([]int, 0, n) // one backing array for every node's list
	for _, s := range pl.Nodes {
		na := core.NodeAlloc{Node: p.NodeName(int(s.Node)), Milli: s.Milli}
		lo := len(devs)
		for m := s.Mask; m != 0; m &= m - 1 {
			devs = append(devs, bits.TrailingZeros64(m))
		}
		na.Accels = devs[lo:len(devs):len(devs)]
		a.Nodes = append(a.Nodes, na)
	}
	return a
}

// allocationSpan is Allocation for a placement across pools.
func (c *Cluster) allocationSpan(pl *Placement) core.Allocation {
	var names []string
	var a core.Allocation
	pl.Parts(func(part *Placement) {
		one := *part
		pa := c.Allocation(&one)
		a.Site = pa.Site
		names = append(names, pa.Pool)
		a.Nodes = append(a.Nodes, pa.Nodes...)
	})
	a.Pool = strings.Join(names, core.PoolSep)
	return a
}

// allocBox holds a one-node allocation in one allocation: the record, its
// node and up to eight device indices.
// Box holds the allocation of a placement on one node of at most eight
// devices (most jobs) in one piece of memory, which can be handed back
// (FreeBox) and reused once nothing refers to the allocation any more.
type Box struct {
	a    core.Allocation
	node [1]core.NodeAlloc
	devs [8]int
}

// Allocation is the box's allocation.
func (b *Box) Allocation() *core.Allocation { return &b.a }

// Warm reads a word of each of the box's cache lines and returns a
// checksum of them (see engine.Engine.Warm).
func (b *Box) Warm() uint64 {
	return uint64(len(b.a.Site)) + uint64(len(b.node[0].Node)) + uint64(b.devs[7])
}

// maxFreeBoxes bounds the boxes kept for reuse.
const maxFreeBoxes = 4096

// Box returns pl's allocation in a box, reused when one was handed back,
// or nil when pl is not one node of at most eight devices.
func (c *Cluster) Box(pl *Placement) *Box {
	if len(pl.Nodes) != 1 || bits.OnesCount64(pl.Nodes[0].Mask) > 8 || pl.More != nil {
		return nil
	}
	var b *Box
	if n := len(c.boxes); n > 0 {
		b = c.boxes[n-1]
		c.boxes[n-1] = nil
		c.boxes = c.boxes[:n-1]
	} else {
		b = &Box{}
	}
	p := c.Pools[pl.Pool]
	s := pl.Nodes[0]
	n := 0
	for m := s.Mask; m != 0; m &= m - 1 {
		b.devs[n] = bits.TrailingZeros64(m)
		n++
	}
	b.node[0] = core.NodeAlloc{Node: p.NodeName(int(s.Node)), Milli: s.Milli, Accels: b.devs[:n:n]}
	b.a = core.Allocation{Site: p.Site.ID, Pool: p.Name, Nodes: b.node[:1:1]}
	return b
}

// FreeBox hands b back for reuse: nothing may refer to its allocation
// any more (b.Allocation(), its Nodes, their Accels).
func (c *Cluster) FreeBox(b *Box) {
	if b != nil && len(c.boxes) < maxFreeBoxes {
		c.boxes = append(c.boxes, b)
	}
}

// AllocationPtr is Allocation on the heap, for callers that keep it: a
// placement on one node of at most eight devices (most jobs) takes one
// allocation instead of four.
func (c *Cluster) AllocationPtr(pl *Placement) *core.Allocation {
	if b := c.Box(pl); b != nil {
		return &b.a
	}
	a := c.Allocation(pl)
	return &a
}

// FromAllocation converts a site's allocation back into a placement, for
// jobs the engine did not place itself (reloaded at restart). Node names
// must have the "POOL-NNNN" form; an allocation without a pool name is
// matched on the node names' prefix. An allocation whose Pool lists
// several pools (core.PoolSep) spans them: each node goes to the pool its
// name says, which must be one of those listed.
func (c *Cluster) FromAllocation(a core.Allocation) (Placement, error) {
	if strings.Contains(a.Pool, core.PoolSep) {
		return c.fromSpan(a)
	}
	var p *Pool
	if a.Pool != "" {
		p = c.Pool(a.Site, a.Pool)
	}
	var pl Placement
	for _, na := range a.Nodes {
		cut := strings.LastIndexByte(na.Node, '-')
		if cut < 0 {
			return Placement{}, fmt.Errorf("node %q: want POOL-NNNN", na.Node)
		}
		if p == nil {
			p = c.Pool(a.Site, na.Node[:cut])
		}
		if p == nil || na.Node[:cut] != p.Name {
			return Placement{}, fmt.Errorf("node %q: no such pool at site %q", na.Node, a.Site)
		}
		s, err := p.shareOf(na, cut)
		if err != nil {
			return Placement{}, err
		}
		pl.Nodes = append(pl.Nodes, s)
	}
	if p == nil {
		return Placement{}, fmt.Errorf("allocation at site %q holds no nodes", a.Site)
	}
	pl.Pool = p.Index
	return pl, nil
}

// fromSpan is FromAllocation for an allocation across pools: the parts
// come out by pool index, as placeSpan makes them.
func (c *Cluster) fromSpan(a core.Allocation) (Placement, error) {
	parts := map[int]*Placement{}
	listed := a.Pools()
	for _, na := range a.Nodes {
		name := core.NodePool(na.Node)
		if name == "" {
			return Placement{}, fmt.Errorf("node %q: want POOL-NNNN", na.Node)
		}
		p := c.Pool(a.Site, name)
		if p == nil || !slices.Contains(listed, name) {
			return Placement{}, fmt.Errorf("node %q: no such pool among %q at site %q", na.Node, a.Pool, a.Site)
		}
		s, err := p.shareOf(na, len(name))
		if err != nil {
			return Placement{}, err
		}
		part := parts[p.Index]
		if part == nil {
			part = &Placement{Pool: p.Index}
			parts[p.Index] = part
		}
		part.Nodes = append(part.Nodes, s)
	}
	if len(parts) == 0 {
		return Placement{}, fmt.Errorf("allocation at site %q holds no nodes", a.Site)
	}
	idx := make([]int, 0, len(parts))
	for pi := range parts {
		idx = append(idx, pi)
	}
	slices.Sort(idx)
	pl := *parts[idx[0]]
	for _, pi := range idx[1:] {
		pl.More = append(pl.More, *parts[pi])
	}
	return pl, nil
}

// shareOf reads one node of an allocation in pool p; cut is where the
// pool's name ends in the node's.
func (p *Pool) shareOf(na core.NodeAlloc, cut int) (NodeShare, error) {
	i, err := strconv.Atoi(na.Node[cut+1:])
	if err != nil || i < 0 || i >= len(p.nodes) {
		return NodeShare{}, fmt.Errorf("node %q: no such node in pool %s (%d nodes)", na.Node, p.Name, len(p.nodes))
	}
	s := NodeShare{Node: int32(i), Milli: na.Milli}
	for _, d := range na.Accels {
		if d < 0 || d >= p.K {
			return NodeShare{}, fmt.Errorf("node %q: no accelerator %d (has %d)", na.Node, d, p.K)
		}
		s.Mask |= 1 << uint(d)
	}
	if s.Milli > 0 && bits.OnesCount64(s.Mask) != 1 {
		return NodeShare{}, fmt.Errorf("node %q: a fractional share names exactly one accelerator", na.Node)
	}
	return s, nil
}
