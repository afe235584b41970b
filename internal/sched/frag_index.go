package sched

import (
	"math"
	"math/bits"

	"github.com/gigafactory/gigafactory/internal/core"
)

// FragIndex is FragAware over a cluster whose nodes change one placement at
// a time (the openb placement experiment in internal/sim). Its choices are
// FragAwareTuned's with the same Tuning, to the bit
// (TestFragIndexEqualsFragAware); what it saves is work:
//
//   - Each node's fragmentation and fill waste are kept until the node
//     changes (Take, Release).
//   - Each candidate's score is kept per request class (a NodeRequest's
//     fields; the openb pod lists have about 150) and node, stamped with
//     the node's version. A request scores again only the nodes that
//     changed since the last request of its class, one per placement in
//     between, and then scans every node's kept scores in FragAware's order.
//   - A node's fragmentation is computed by a fragScorer: the free levels
//     are sorted once, each distinct per-device share of the mix is looked
//     up once, and the mix's types are summed in the mix's order, so the
//     sum is RequestMix.Fragmentation's, bit for bit.
//
// Set RequestMix and Tuning before the first Choose; a later change of
// either drops what was kept.
type FragIndex struct {
	Nodes      []NodeFree
	RequestMix RequestMix
	Tuning     FragTuning // zero: plain FragAware
	before     []float64  // node fragmentation; NaN = to compute
	fillBefore []float64  // node fill waste; NaN = to compute
	fill       fillCache

	ver     []uint64 // per node, bumped by Take and Release (from 1)
	modelID []int32  // per node: index into models
	models  []string // distinct node models
	wide    bool     // a node has more than 64 devices: no masks, no class cache

	scorer  *fragScorer
	keptMix RequestMix // mix and tuning the caches were built for
	keptT   FragTuning
	classes map[NodeRequest]*fragClass
	fills   fragFills

	masks   []uint64     // scratch: candidate device sets
	scratch []core.Milli // scratch: a node's free levels after a placement
}

// fragFills is fillCache for FragIndex: the same FillWaste tables, found by
// the node's model id instead of its name, and the set of types a node
// hosts worked out from the scorer's arrays.
type fragFills struct {
	byHost map[fragHost][]float64
	tables map[string][]float64
	key    []byte
}

type fragHost struct {
	cpu, mem int64
	model    int32
}

// fragClass is what FragIndex keeps for one request class, for the nodes
// it could ever fit: those of a model it accepts with enough devices (the
// others never give a candidate, so leaving them out of the scan changes
// nothing).
type fragClass struct {
	nodes []int32    // eligible nodes, ascending
	ver   []uint64   // per eligible node: its version when scored; 0 = never
	n     []uint8    // per eligible node: candidates kept (0: does not fit now)
	off   []int32    // per eligible node: its first slot in cand
	cand  []fragCand // one slot per device (shares) or one per node
}

// fragCand is one candidate's score, what the scan compares. Its devices
// are the node's fragCandMasks at the same position, found again for the
// chosen one.
type fragCand struct {
	delta float64
	fit   fragFit
}

// fragClassLimit bounds the request classes kept; past it they are dropped
// and scored afresh.
const fragClassLimit = 1024

// NewFragIndex indexes nodes (which it then owns) against the mix.
func NewFragIndex(nodes []NodeFree, m RequestMix) *FragIndex {
	x := &FragIndex{Nodes: nodes, RequestMix: m,
		before: make([]float64, len(nodes)), fillBefore: make([]float64, len(nodes)),
		ver: make([]uint64, len(nodes)), modelID: make([]int32, len(nodes))}
	ids := map[string]int32{}
	for i := range nodes {
		x.before[i], x.fillBefore[i] = math.NaN(), math.NaN()
		x.ver[i] = 1
		if len(nodes[i].Free) > 64 {
			x.wide = true
		}
		id, ok := ids[nodes[i].Model]
		if !ok {
			id = int32(len(x.models))
			ids[nodes[i].Model] = id
			x.models = append(x.models, nodes[i].Model)
		}
		x.modelID[i] = id
	}
	return x
}

// Reset makes x index nodes (which it then owns) afresh, as
// NewFragIndex(nodes, x.RequestMix) with x.Tuning would. When nodes have
// the shape of the nodes before (their number, and each node's model and
// devices), it keeps what does not depend on their free resources: the
// request classes' node lists and storage, the fragmentation memo and the
// FillWaste tables. Runs over fresh copies of one cluster (the seeds of
// the openb experiment) then score a node state seen in an earlier run
// from the memo.
func (x *FragIndex) Reset(nodes []NodeFree) {
	same := len(nodes) == len(x.Nodes)
	for i := 0; same && i < len(nodes); i++ {
		same = nodes[i].Model == x.Nodes[i].Model && len(nodes[i].Free) == len(x.Nodes[i].Free)
	}
	if !same {
		t := x.Tuning
		*x = *NewFragIndex(nodes, x.RequestMix)
		x.Tuning = t
		return
	}
	x.Nodes = nodes
	var top uint64
	for _, v := range x.ver {
		top = max(top, v)
	}
	// Every kept score is stamped with an older version, so none is used.
	for i := range x.ver {
		x.ver[i] = top + 1
		x.before[i], x.fillBefore[i] = math.NaN(), math.NaN()
	}
}

// Choose returns FragAwareTuned's choice for r (with x.Tuning) without
// committing it.
func (x *FragIndex) Choose(r NodeRequest) (NodeChoice, bool) {
	x.prepare()
	if x.wide {
		return fragAware(x.Nodes, r, x.RequestMix, x.before, x.fillBefore, x.Tuning, &x.fill)
	}
	cl := x.class(r)
	eps := fragEps
	if x.Tuning.Tie > eps {
		eps = x.Tuning.Tie
	}
	less := fragFit.less
	if x.Tuning.DeviceFirst {
		less = fragFit.lessDeviceFirst
	}
	var c NodeChoice
	var best fragFit
	var pick uint8
	ok := false
	for e, i := range cl.nodes {
		if cl.ver[e] != x.ver[i] {
			x.score(cl, e, r)
		}
		k := cl.off[e]
		for j, cd := range cl.cand[k : k+int32(cl.n[e])] {
			if fragBetter(ok, cd.delta, c.Score, eps, cd.fit, best, less) {
				c.Node, c.Score, best, pick, ok = int(i), cd.delta, cd.fit, uint8(j), true
			}
		}
	}
	if !ok {
		return c, false
	}
	x.masks = fragCandMasks(&x.Nodes[c.Node], r, x.masks[:0])
	if mask := x.masks[pick]; mask != 0 {
		c.Devices = make([]int, 0, bits.OnesCount64(mask))
		for m := mask; m != 0; m &= m - 1 {
			c.Devices = append(c.Devices, bits.TrailingZeros64(m))
		}
	}
	return c, ok
}

// Take commits r on the chosen node and devices.
func (x *FragIndex) Take(c NodeChoice, r NodeRequest) {
	x.Nodes[c.Node].Take(r, c.Devices)
	x.changed(c.Node)
}

// Release returns r's resources on a node and devices (a departure).
func (x *FragIndex) Release(c NodeChoice, r NodeRequest) {
	n := &x.Nodes[c.Node]
	n.CPUMilli += r.CPUMilli
	n.MemMiB += r.MemMiB
	for _, d := range c.Devices {
		n.Free[d] += r.PerDevice
	}
	x.changed(c.Node)
}

func (x *FragIndex) changed(i int) {
	x.before[i], x.fillBefore[i] = math.NaN(), math.NaN()
	x.ver[i]++
}

// prepare (re)builds the scorer and drops the kept scores when the mix or
// the tuning is not the one they were computed for.
func (x *FragIndex) prepare() {
	m := x.RequestMix
	same := x.scorer != nil && x.keptT == x.Tuning && len(x.keptMix) == len(m) &&
		(len(m) == 0 || &x.keptMix[0] == &m[0])
	if same {
		return
	}
	if x.scorer != nil { // a change after the first Choose
		for i := range x.before {
			x.before[i], x.fillBefore[i] = math.NaN(), math.NaN()
		}
		x.fill = fillCache{}
		x.fills = fragFills{}
	}
	x.scorer = newFragScorer(m, x.models)
	x.keptMix, x.keptT = m, x.Tuning
	x.classes = nil
}

func (x *FragIndex) class(r NodeRequest) *fragClass {
	if cl, ok := x.classes[r]; ok {
		return cl
	}
	if x.classes == nil || len(x.classes) >= fragClassLimit {
		x.classes = map[NodeRequest]*fragClass{}
	}
	share := r.Devices == 1 && r.PerDevice < 1000
	cl := &fragClass{}
	slots := int32(0)
	for i := range x.Nodes {
		n := &x.Nodes[i]
		if r.Devices > 0 && (len(n.Free) < r.Devices || !fragModelOK(r.Model, n.Model)) {
			continue
		}
		cl.nodes = append(cl.nodes, int32(i))
		cl.off = append(cl.off, slots)
		if share {
			slots += int32(len(n.Free))
		} else {
			slots++
		}
	}
	cl.ver, cl.n = make([]uint64, len(cl.nodes)), make([]uint8, len(cl.nodes))
	cl.cand = make([]fragCand, slots)
	x.classes[r] = cl
	return cl
}

// score keeps the candidates for r on cl's e-th node, computed as
// fragAware does.
func (x *FragIndex) score(cl *fragClass, e int, r NodeRequest) {
	i := int(cl.nodes[e])
	cl.ver[e], cl.n[e] = x.ver[i], 0
	n := &x.Nodes[i]
	if !n.Fits(r) {
		return
	}
	t, model := x.Tuning, x.modelID[i]
	b := x.before[i]
	if math.IsNaN(b) {
		b = x.scorer.frag(n, model)
		x.before[i] = b
	}
	var fb float64
	if t.FillWeight != 0 {
		if fb = x.fillBefore[i]; math.IsNaN(fb) {
			fb = x.fillNode(n, model)
			x.fillBefore[i] = fb
		}
	}
	k := int(cl.off[e])
	x.masks = fragCandMasks(n, r, x.masks[:0])
	for j, mask := range x.masks {
		x.scratch = append(x.scratch[:0], n.Free...)
		after := NodeFree{Model: n.Model, Free: x.scratch, CPUMilli: n.CPUMilli - r.CPUMilli, MemMiB: n.MemMiB - r.MemMiB}
		f := fragFit{nodeLeft: n.FreeAccel() - r.Accelerators(), cpuLeft: n.CPUMilli - r.CPUMilli}
		for mm := mask; mm != 0; mm &= mm - 1 {
			d := bits.TrailingZeros64(mm)
			after.Free[d] -= r.PerDevice
			f.devLeft += n.Free[d] - r.PerDevice
		}
		fragAfter := x.scorer.frag(&after, model)
		var fillAfter float64
		if t.FillWeight != 0 {
			fillAfter = x.fillNode(&after, model)
		}
		cl.cand[k+j] = fragCand{delta: fragDelta(fragAfter, b, f.nodeLeft, fillAfter, fb, t), fit: f}
	}
	cl.n[e] = uint8(len(x.masks))
}

// fillNode is RequestMix.NodeFillWaste(n) (fillCache.node) for a node of
// the given model id: the same tables, summed over the devices in the same
// order.
func (x *FragIndex) fillNode(n *NodeFree, model int32) float64 {
	var s float64
	var w []float64
	for _, f := range n.Free {
		if f <= 0 {
			continue
		}
		if w == nil {
			w = x.fillTable(n, model)
		}
		s += w[min(f, 1000)]
	}
	return s
}

func (x *FragIndex) fillTable(n *NodeFree, model int32) []float64 {
	fc := &x.fills
	h := fragHost{n.CPUMilli, n.MemMiB, model}
	if w, ok := fc.byHost[h]; ok {
		return w
	}
	// The key is fillCache.table's: bit i set when the node hosts type i.
	sc := x.scorer
	hosts := sc.hosts[model]
	fc.key = fc.key[:0]
	var b byte
	for i := range sc.types {
		t := &sc.types[i]
		if t.cpu <= n.CPUMilli && t.mem <= n.MemMiB && hosts[i] {
			b |= 1 << uint(i&7)
		}
		if i&7 == 7 {
			fc.key, b = append(fc.key, b), 0
		}
	}
	fc.key = append(fc.key, b)
	w, ok := fc.tables[string(fc.key)]
	if !ok {
		if fc.tables == nil || len(fc.tables) >= 1<<12 {
			fc.tables = map[string][]float64{}
		}
		w = x.RequestMix.FillWaste(func(t MixEntry) bool {
			return t.CPUMilli <= n.CPUMilli && t.MemMiB <= n.MemMiB && fragModelOK(t.Model, n.Model)
		})
		fc.tables[string(fc.key)] = w
	}
	if fc.byHost == nil || len(fc.byHost) >= 1<<16 {
		fc.byHost = map[fragHost][]float64{}
	}
	fc.byHost[h] = w
	return w
}

// fragCandMasks is fragCandidates as device masks (nodes of at most 64
// devices), without allocating: the same sets in the same order.
func fragCandMasks(n *NodeFree, r NodeRequest, buf []uint64) []uint64 {
	if r.Devices == 0 {
		return append(buf, 0)
	}
	if r.PerDevice >= 1000 || r.Devices > 1 {
		var set uint64
		k := 0
		for d, f := range n.Free {
			if f >= r.PerDevice {
				set |= 1 << uint(d)
				if k++; k == r.Devices {
					return append(buf, set)
				}
			}
		}
		return buf
	}
	for d, f := range n.Free {
		if f < r.PerDevice {
			continue
		}
		dup := false
		for e := 0; e < d; e++ {
			if n.Free[e] == f {
				dup = true
				break
			}
		}
		if !dup {
			buf = append(buf, 1<<uint(d))
		}
	}
	return buf
}

// fragScorer computes RequestMix.Fragmentation faster, with the same
// result to the bit: the per-type tests (usable devices, capacity on the
// devices too small) depend on the type only through its per-device share,
// so they are worked out once per distinct share from the node's sorted
// free levels, and whether a type accepts the node's model is looked up;
// the weighted sum then runs over the types in the mix's order with the
// same terms as RequestMix.Fragmentation.
type fragScorer struct {
	types  []scorerType
	pers   []core.Milli // distinct per-device shares, ascending
	hosts  [][]bool     // [model id][type]: the type accepts the model
	sorted []core.Milli // scratch
	memo   map[fragState]float64
	usable []int        // scratch, per share
	small  []core.Milli // scratch, per share
}

type scorerType struct {
	weight   float64
	cpu, mem int64
	devices  int
	per      int // index into pers
}

func newFragScorer(m RequestMix, models []string) *fragScorer {
	s := &fragScorer{types: make([]scorerType, len(m))}
	for _, t := range m {
		i := 0
		for i < len(s.pers) && s.pers[i] < t.PerDevice {
			i++
		}
		if i == len(s.pers) || s.pers[i] != t.PerDevice {
			s.pers = append(s.pers, 0)
			copy(s.pers[i+1:], s.pers[i:])
			s.pers[i] = t.PerDevice
		}
	}
	for k, t := range m {
		i := 0
		for s.pers[i] != t.PerDevice {
			i++
		}
		s.types[k] = scorerType{weight: t.Weight, cpu: t.CPUMilli, mem: t.MemMiB, devices: t.Devices, per: i}
	}
	s.hosts = make([][]bool, len(models))
	for id, model := range models {
		s.hosts[id] = make([]bool, len(m))
		for k, t := range m {
			s.hosts[id][k] = t.Model == "" || fragModelOK(t.Model, model)
		}
	}
	s.usable = make([]int, len(s.pers))
	s.small = make([]core.Milli, len(s.pers))
	return s
}

// fragState is what a node's fragmentation depends on: its model, free
// CPU and memory, and its free levels as a multiset (sorted), for nodes of
// at most 8 devices with levels that fit in 16 bits. A placement run
// scores the same states many times over (identical fresh nodes; the same
// node state reached by other requests): on openb, about one call in nine
// is a state not seen before.
type fragState struct {
	cpu, mem int64
	model    int32
	n        int32
	free     [8]int16
}

// fragMemoLimit bounds the memo; past it, it starts afresh.
const fragMemoLimit = 1 << 18

// frag is RequestMix.Fragmentation(n) for a node of the given model id.
func (s *fragScorer) frag(n *NodeFree, model int32) float64 {
	var total core.Milli
	for _, f := range n.Free {
		total += f
	}
	if total == 0 {
		return 0
	}
	v := append(s.sorted[:0], n.Free...)
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	s.sorted = v
	key, memo := fragState{cpu: n.CPUMilli, mem: n.MemMiB, model: model, n: int32(len(v))}, len(v) <= len(fragState{}.free)
	for i := 0; memo && i < len(v); i++ {
		if v[i] < 0 || v[i] > math.MaxInt16 {
			memo = false
			break
		}
		key.free[i] = int16(v[i])
	}
	if memo {
		if f, ok := s.memo[key]; ok {
			return f
		}
	}
	f := s.sum(n, model, v, total)
	if memo {
		if s.memo == nil || len(s.memo) >= fragMemoLimit {
			s.memo = map[fragState]float64{}
		}
		s.memo[key] = f
	}
	return f
}

// sum is frag's computation, from the node's sorted free levels v.
func (s *fragScorer) sum(n *NodeFree, model int32, v []core.Milli, total core.Milli) float64 {
	j := 0
	var acc core.Milli
	for p, per := range s.pers {
		for j < len(v) && v[j] < per {
			acc += v[j]
			j++
		}
		s.usable[p], s.small[p] = len(v)-j, acc
	}
	hosts := s.hosts[model]
	var frag float64
	for k := range s.types {
		t := &s.types[k]
		if t.cpu > n.CPUMilli || t.mem > n.MemMiB || !hosts[k] {
			frag += t.weight * float64(total)
			continue
		}
		if s.usable[t.per] < t.devices {
			frag += t.weight * float64(total)
		} else {
			frag += t.weight * float64(s.small[t.per])
		}
	}
	return frag
}
