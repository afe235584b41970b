package sched

import (
	"math"
	"math/bits"
	"sort"

	"github.com/gigafactory/gigafactory/internal/core"
)

// This file scores nodes for requests that fit on one node: a single
// accelerator, a share of one (fractional, MIG/MPS-style) or a few whole
// ones. Two policies:
//
//   - BestFit: the node (and, for a share, the device) left with the least
//     free accelerator capacity, then the least free CPU.
//   - FragAware: fragmentation gradient descent in the manner of Weng et
//     al., "Beware of Fragmentation" (USENIX ATC'23). A node's
//     fragmentation is the free accelerator capacity that a request drawn
//     from the workload's own mix of request types could not use; the
//     request goes where that expected waste grows least. Ties, common when
//     a placement wastes nothing, go to the tighter fit (BestFit's order),
//     then to the lower node index, so equal inputs give equal choices.
//
// Everything here is pure: no clock, no randomness, maps iterated only
// after sorting their keys.

// NodeFree is what is left on one node.
type NodeFree struct {
	Model    string       // accelerator model, e.g. "V100M16"
	Free     []core.Milli // free thousandths of each device; len = devices
	CPUMilli int64        // free CPU, thousandths of a core
	MemMiB   int64        // free memory
}

// FreeAccel sums the free thousandths over the node's devices.
func (n *NodeFree) FreeAccel() core.Milli {
	var s core.Milli
	for _, f := range n.Free {
		s += f
	}
	return s
}

// NodeRequest is a placement request for one node.
type NodeRequest struct {
	Devices   int        // devices it spans; 0 = host resources only
	PerDevice core.Milli // share of each device: 1000 whole, less for a share
	CPUMilli  int64
	MemMiB    int64
	Model     string // acceptable models, "|"-separated; "" = any
}

// Accelerators is the total the request holds, in thousandths.
func (r NodeRequest) Accelerators() core.Milli { return core.Milli(r.Devices) * r.PerDevice }

// NodeChoice is a placement: a node and the devices on it.
type NodeChoice struct {
	Node    int   // index into the nodes given
	Devices []int // device indices; empty for a host-only request
	// Score is the policy's cost of the choice (lower is better): the
	// fragmentation increase for FragAware, the capacity left for BestFit.
	Score float64
}

// fragModelOK reports whether model is one of the "|"-separated names in spec
// (an empty spec accepts any model). It does not allocate.
func fragModelOK(spec, model string) bool {
	if spec == "" {
		return true
	}
	for len(spec) > 0 {
		i := 0
		for i < len(spec) && spec[i] != '|' {
			i++
		}
		if spec[:i] == model {
			return true
		}
		if i == len(spec) {
			break
		}
		spec = spec[i+1:]
	}
	return false
}

// Fits reports whether r fits on n now.
func (n *NodeFree) Fits(r NodeRequest) bool {
	if r.CPUMilli > n.CPUMilli || r.MemMiB > n.MemMiB {
		return false
	}
	if r.Devices == 0 {
		return true
	}
	if !fragModelOK(r.Model, n.Model) {
		return false
	}
	k := 0
	for _, f := range n.Free {
		if f >= r.PerDevice {
			k++
		}
	}
	return k >= r.Devices
}

// Take removes r from n on the given devices. The caller has checked Fits.
func (n *NodeFree) Take(r NodeRequest, devices []int) {
	n.CPUMilli -= r.CPUMilli
	n.MemMiB -= r.MemMiB
	for _, d := range devices {
		n.Free[d] -= r.PerDevice
	}
}

// RequestMix is a workload's distribution of accelerator request types, the
// reference against which fragmentation is measured. Weights sum to 1.
type RequestMix []MixEntry

// MixEntry is one request type and its share of the workload.
type MixEntry struct {
	NodeRequest
	Weight float64
}

// MixOptions choose how MixOf builds a reference mix.
type MixOptions struct {
	// Coverage keeps the most common types until they cover this share of
	// the requests' weight (0 < Coverage <= 1; 0 = all).
	Coverage float64
	// DemandExponent weights each request by (accelerators)^e: 0 counts
	// requests (the FGD paper), 1 weighs them by the accelerators they ask
	// for. Fragmentation then tracks what wastes capacity, not what is
	// frequent: one 8-GPU pod that no node can take strands more than one
	// 0.1-GPU pod.
	DemandExponent float64
	// Memory makes a type's memory part of it, so a node whose memory is
	// spent counts its free accelerators as fragments (the paper's types
	// carry CPU only).
	Memory bool
}

// FGDMix is the mix of the FGD paper's artifact: request types by count,
// CPU but not memory, all types.
var FGDMix = MixOptions{Coverage: 1}

// GigafactoryMix is ours: weighted by the square root of the accelerators
// asked for, memory included. On the openb default workload at 130% demand
// it allocates more of the cluster than FGDMix (docs/PERFORMANCE.md).
var GigafactoryMix = MixOptions{Coverage: 1, DemandExponent: 0.5, Memory: true}

// GigafactoryPlaceMix is the mix of the gigafactory policy in the openb
// placement experiment (internal/sim, PlaceGigafactory): request types by
// count, memory part of a type. Combined with GigafactoryTuning it beat
// GigafactoryMix there (95.61% vs 95.53% with the same tuning; see
// FragTuning and docs/PERFORMANCE.md).
var GigafactoryPlaceMix = MixOptions{Coverage: 1, Memory: true}

// MixOf counts the request types in reqs (by devices, share, CPU, model,
// and memory when opts.Memory) and keeps the most common ones covering
// opts.Coverage of them, renormalised. Host-only requests are left out:
// they use no accelerator, so no free accelerator is wasted with respect to
// them. The order is deterministic: by weight, then by the type's fields.
func MixOf(reqs []NodeRequest, opts MixOptions) RequestMix {
	coverage := opts.Coverage
	type key struct {
		dev   int
		per   core.Milli
		cpu   int64
		mem   int64
		model string
	}
	counts := map[key]float64{}
	total := 0.0
	for _, r := range reqs {
		if r.Devices == 0 {
			continue
		}
		w := 1.0
		if opts.DemandExponent != 0 {
			w = math.Pow(float64(r.Accelerators())/1000, opts.DemandExponent)
		}
		mem := int64(0)
		if opts.Memory {
			mem = r.MemMiB
		}
		counts[key{r.Devices, r.PerDevice, r.CPUMilli, mem, r.Model}] += w
		total += w
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		if a.dev != b.dev {
			return a.dev < b.dev
		}
		if a.per != b.per {
			return a.per < b.per
		}
		if a.cpu != b.cpu {
			return a.cpu < b.cpu
		}
		if a.mem != b.mem {
			return a.mem < b.mem
		}
		return a.model < b.model
	})
	if coverage <= 0 || coverage > 1 {
		coverage = 1
	}
	var m RequestMix
	kept := 0.0
	for _, k := range keys {
		if kept >= coverage*total {
			break
		}
		m = append(m, MixEntry{NodeRequest: NodeRequest{Devices: k.dev, PerDevice: k.per, CPUMilli: k.cpu, MemMiB: k.mem, Model: k.model}, Weight: counts[k]})
		kept += counts[k]
	}
	for i := range m {
		m[i].Weight /= kept
	}
	return m
}

// Fragmentation is the expected free accelerator capacity of n, in
// thousandths, that a request drawn from the mix could not use: all of it
// when the request would not fit on the node at all (too few usable
// devices, CPU, memory, or the wrong model), otherwise the free capacity of
// the devices too small for the request's per-device share.
func (m RequestMix) Fragmentation(n *NodeFree) float64 {
	var total core.Milli
	for _, f := range n.Free {
		total += f
	}
	if total == 0 {
		return 0
	}
	var frag float64
	for _, t := range m {
		if t.CPUMilli > n.CPUMilli || t.MemMiB > n.MemMiB || (t.Model != "" && !fragModelOK(t.Model, n.Model)) {
			frag += t.Weight * float64(total)
			continue
		}
		var small core.Milli
		usable := 0
		for _, f := range n.Free {
			if f >= t.PerDevice {
				usable++
			} else {
				small += f
			}
		}
		if usable < t.Devices {
			frag += t.Weight * float64(total)
		} else {
			frag += t.Weight * float64(small)
		}
	}
	return frag
}

// Fragmentation sums RequestMix.Fragmentation over nodes: the cluster's expected
// unusable free accelerator capacity, in thousandths.
func Fragmentation(nodes []NodeFree, m RequestMix) float64 {
	var s float64
	for i := range nodes {
		s += m.Fragmentation(&nodes[i])
	}
	return s
}

// fragCandidates lists the device sets worth trying for r on n. Whole-device
// requests get one set, the lowest-indexed fully free devices (any others
// are equivalent). A share gets one device per distinct free level, so the
// policy can choose between an empty device and a partly used one.
func fragCandidates(n *NodeFree, r NodeRequest, buf [][]int) [][]int {
	buf = buf[:0]
	if r.Devices == 0 {
		return append(buf, nil)
	}
	if r.PerDevice >= 1000 || r.Devices > 1 {
		var set []int
		for d, f := range n.Free {
			if f >= r.PerDevice {
				set = append(set, d)
				if len(set) == r.Devices {
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
			buf = append(buf, []int{d})
		}
	}
	return buf
}

// fragFit is the tie-break key shared by both policies: accelerator capacity
// left on the node, then on the chosen devices, then CPU left.
type fragFit struct {
	nodeLeft core.Milli
	devLeft  core.Milli
	cpuLeft  int64
}

func fragFitOf(n *NodeFree, r NodeRequest, devs []int) fragFit {
	f := fragFit{nodeLeft: n.FreeAccel() - r.Accelerators(), cpuLeft: n.CPUMilli - r.CPUMilli}
	for _, d := range devs {
		f.devLeft += n.Free[d] - r.PerDevice
	}
	return f
}

func (a fragFit) less(b fragFit) bool {
	if a.nodeLeft != b.nodeLeft {
		return a.nodeLeft < b.nodeLeft
	}
	if a.devLeft != b.devLeft {
		return a.devLeft < b.devLeft
	}
	return a.cpuLeft < b.cpuLeft
}

// lessDeviceFirst is less with the chosen devices' capacity left compared
// first.
func (a fragFit) lessDeviceFirst(b fragFit) bool {
	if a.devLeft != b.devLeft {
		return a.devLeft < b.devLeft
	}
	return a.less(b)
}

// BestFit places r on the node and devices left with the least free
// accelerator capacity (then device capacity, then CPU); lowest index wins
// ties. ok is false when r fits nowhere.
func BestFit(nodes []NodeFree, r NodeRequest) (c NodeChoice, ok bool) {
	var best fragFit
	var buf [][]int
	var arr [8]uint64
	masks := arr[:0]
	var pick uint64 // the choice's devices, unless it is on a node of more than 64
	for i := range nodes {
		n := &nodes[i]
		if !n.Fits(r) {
			continue
		}
		if len(n.Free) > 64 {
			for _, devs := range fragCandidates(n, r, buf) {
				f := fragFitOf(n, r, devs)
				if !ok || f.less(best) {
					c, best, ok, pick = NodeChoice{Node: i, Devices: append([]int(nil), devs...), Score: float64(f.nodeLeft)}, f, true, 0
				}
			}
			continue
		}
		// The same candidates in the same order as fragCandidates, as
		// device masks, without allocating.
		masks = fragCandMasks(n, r, masks[:0])
		for _, m := range masks {
			f := fragFit{nodeLeft: n.FreeAccel() - r.Accelerators(), cpuLeft: n.CPUMilli - r.CPUMilli}
			for mm := m; mm != 0; mm &= mm - 1 {
				f.devLeft += n.Free[bits.TrailingZeros64(mm)] - r.PerDevice
			}
			if !ok || f.less(best) {
				c, best, ok, pick = NodeChoice{Node: i, Score: float64(f.nodeLeft)}, f, true, m
			}
		}
	}
	if ok && len(nodes[c.Node].Free) <= 64 && pick != 0 {
		c.Devices = make([]int, 0, bits.OnesCount64(pick))
		for mm := pick; mm != 0; mm &= mm - 1 {
			c.Devices = append(c.Devices, bits.TrailingZeros64(mm))
		}
	}
	return c, ok
}

// FragAware places r where the mix's fragmentation grows least (FGD), ties
// broken as BestFit. ok is false when r fits nowhere.
func FragAware(nodes []NodeFree, r NodeRequest, m RequestMix) (NodeChoice, bool) {
	return fragAware(nodes, r, m, nil, nil, FragTuning{}, nil)
}

// FragAwareTuned is FragAware with a tuning (FragTuning{} = FragAware).
func FragAwareTuned(nodes []NodeFree, r NodeRequest, m RequestMix, t FragTuning) (NodeChoice, bool) {
	return fragAware(nodes, r, m, nil, nil, t, nil)
}

// FragTuning adjusts FragAware's choice between candidates. The zero value
// is plain FGD: the least fragmentation increase, float-rounding ties
// (fragEps) broken by the tighter fit.
//
// Measured on the openb placement experiment (130% demand, seeds 42-51,
// mean allocation ratio; hold-out seeds 1-10 where given; plain FGD
// ordering with GigafactoryMix: 95.14%):
//
//   - Tie (thousandths of an accelerator): fragmentation increases within
//     Tie of the best are equal, and the tighter fit decides. FGD's score
//     is an expectation over a mix; differences of a hundredth of a GPU are
//     noise against it, while packing the fuller node keeps whole devices
//     and whole nodes free for what comes. Tie 3: 95.12%, 10: 95.29%,
//     20: 95.24%, 50: 95.24%.
//   - NodeLeftWeight: adds this times the accelerator thousandths the node
//     keeps free to the score, a soft best-fit pull outside the tie band.
//     0.01 (with Tie 10, types by count): 95.32%; 0.03: 95.25%.
//   - DeviceFirst: the tie-break ladder compares the capacity left on the
//     chosen devices before the node's, so a share goes onto the
//     already-shared device it fits best (0.5/0.25 shares stack on one
//     device instead of opening a new one). With the two above: 95.36%
//     (hold-out 95.38%).
//   - FillWeight: adds this times the change in the node's fill waste
//     (RequestMix.NodeFillWaste): for each device, the expected capacity
//     its hole leaves unused once filled by the mix's shares, counting
//     only the types the node's CPU, memory and model can still host. FGD
//     asks only whether a type fits a hole now; this asks how likely the
//     hole is to be filled at all, and exactly. With the three above,
//     FillWeight 3: 95.61% (hold-out 95.56%); 1.5: 95.56%; 2: 95.57%
//     (95.57%); 5: 95.58% (95.57%); 10: 95.02%. At the end of seed 42 the
//     free capacity falls from 284 to 272 GPUs, nearly all of it in holes
//     of 0.22 GPU or more beside spent CPU or memory (31 to 12 GPUs); the
//     0.19 slivers beside 0.81-GPU pods stay (180 to 177 GPUs).
//     The host restriction is what helps: the same term over every type
//     (FillWaste(nil)) gives 95.38-95.39% at weights 0.3-3; on the chosen
//     devices only, host-restricted after the placement but not before,
//     95.44% (1) and 95.50% (3), before and after 95.49% (3).
//
// With FillWeight 3 the ladder still matters: Tie 5 gives 95.26%, Tie 20
// 95.55%; NodeLeftWeight 0 95.36%, 0.02 95.56%; without DeviceFirst
// 95.58%; without memory in a type 95.48%; the √accelerators mix 95.53%.
//
// Tried and dropped (same experiment): capping a type's usable capacity by
// how many instances the node's CPU and memory can host (94.90-94.93%);
// counting the remainder of repeated shares on a device as fragment
// (95.04%); leaving the most CPU per free accelerator as the tie-break
// (95.00-95.15%), and the least (93.08%); mixes weighted by
// accelerators^e for e in 0..1 (94.81-95.14% without tuning); dropping rare
// types (coverage 0.9/0.97: 95.10%).
type FragTuning struct {
	Tie            float64 // thousandths of an accelerator; 0 = fragEps
	NodeLeftWeight float64 // score per thousandth the node keeps free
	DeviceFirst    bool    // tie-break: device capacity left before node's
	// FillWeight adds this times the change in the node's expected fill
	// waste (NodeFillWaste: each device's FillWaste, over the request
	// types the node's CPU, memory and model can still host) to the score.
	FillWeight float64
}

// FillWaste is, for each free level f of one device (index f, thousandths,
// 0..1000), the expected capacity left unused when the hole is filled by
// requests of the mix the node can host (host reports which; nil = all),
// each drawn, in proportion to its weight, among the types whose
// per-device share fits what is left, until none fits. Whole-device and
// multi-device types count as a share of 1000 of each device. A fresh
// device's entry is the waste of the shares that will land on it (the 0.19
// beside a 0.81 pod); a 0.53 hole scores what the 0.47, 0.46 and 0.32 pods
// that may fill it leave over.
func (m RequestMix) FillWaste(host func(MixEntry) bool) []float64 {
	var sizes []core.Milli // distinct per-device shares, ascending
	var weight []float64
	for _, t := range m {
		if t.Devices == 0 || t.PerDevice <= 0 || (host != nil && !host(t)) {
			continue
		}
		sh := min(t.PerDevice, 1000)
		i := sort.Search(len(sizes), func(i int) bool { return sizes[i] >= sh })
		if i == len(sizes) || sizes[i] != sh {
			sizes = append(sizes, 0)
			weight = append(weight, 0)
			copy(sizes[i+1:], sizes[i:])
			copy(weight[i+1:], weight[i:])
			sizes[i], weight[i] = sh, 0
		}
		weight[i] += t.Weight
	}
	w := make([]float64, 1001)
	for f := 1; f <= 1000; f++ {
		var num, den float64
		for i, sh := range sizes {
			if int(sh) > f {
				break
			}
			num += weight[i] * w[f-int(sh)]
			den += weight[i]
		}
		if den == 0 {
			w[f] = float64(f)
		} else {
			w[f] = num / den
		}
	}
	return w
}

// NodeFillWaste sums FillWaste over n's devices, counting only the request
// types n's free CPU, memory and model can host.
func (m RequestMix) NodeFillWaste(n *NodeFree) float64 {
	var fc fillCache
	return fc.node(m, n)
}

// fillCache memoises FillWaste tables by the set of mix types a node can
// host, and that set by the node's free CPU, memory and model.
type fillCache struct {
	tables map[string][]float64
	byHost map[fillHost][]float64
	key    []byte
}

type fillHost struct {
	cpu, mem int64
	model    string
}

func (fc *fillCache) node(m RequestMix, n *NodeFree) float64 {
	var s float64
	var w []float64
	for _, f := range n.Free {
		if f <= 0 {
			continue
		}
		if w == nil {
			w = fc.table(m, n)
		}
		s += w[min(f, 1000)]
	}
	return s
}

func (fc *fillCache) table(m RequestMix, n *NodeFree) []float64 {
	h := fillHost{n.CPUMilli, n.MemMiB, n.Model}
	if w, ok := fc.byHost[h]; ok {
		return w
	}
	hosts := func(t MixEntry) bool {
		return t.CPUMilli <= n.CPUMilli && t.MemMiB <= n.MemMiB && fragModelOK(t.Model, n.Model)
	}
	fc.key = fc.key[:0]
	var b byte
	for i, t := range m {
		if hosts(t) {
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
		w = m.FillWaste(hosts)
		fc.tables[string(fc.key)] = w
	}
	if fc.byHost == nil || len(fc.byHost) >= 1<<16 {
		fc.byHost = map[fillHost][]float64{}
	}
	fc.byHost[h] = w
	return w
}

// GigafactoryTuning is the gigafactory policy's tuning in the openb
// placement experiment (95.61% on seeds 42-51, 95.56% on 1-10).
var GigafactoryTuning = FragTuning{Tie: 10, NodeLeftWeight: 0.01, DeviceFirst: true, FillWeight: 3}

// fragEps treats fragmentation changes closer than this (in thousandths of
// an accelerator) as equal, so float rounding cannot decide a placement.
const fragEps = 1e-6

// fragDelta is a candidate's score: the fragmentation increase, plus the
// tuning's terms. FragIndex and fragAware both score through it, so they
// agree to the bit.
func fragDelta(fragAfter, fragBefore float64, nodeLeft core.Milli, fillAfter, fillBefore float64, t FragTuning) float64 {
	delta := fragAfter - fragBefore
	if t.NodeLeftWeight != 0 {
		delta += t.NodeLeftWeight * float64(nodeLeft)
	}
	if t.FillWeight != 0 {
		delta += t.FillWeight * (fillAfter - fillBefore)
	}
	return delta
}

// fragBetter reports whether a candidate scored delta with fit f beats the
// best so far (score, best; ok = there is one): a lower score by more than
// eps, or a score within eps and a tighter fit. The scan is in node, then
// candidate order, so equal inputs give equal choices.
func fragBetter(ok bool, delta, score, eps float64, f, best fragFit, less func(a, b fragFit) bool) bool {
	return !ok || delta < score-eps || (delta <= score+eps && less(f, best))
}

// fragAware is FragAware with optional caches of each node's current
// fragmentation (before[i]; NaN = unknown) and fill waste (fillBefore[i];
// NaN = unknown), and of FillWaste tables.
func fragAware(nodes []NodeFree, r NodeRequest, m RequestMix, before, fillBefore []float64, t FragTuning, fc *fillCache) (c NodeChoice, ok bool) {
	if t.FillWeight != 0 && fc == nil {
		fc = &fillCache{}
	}
	eps := fragEps
	if t.Tie > eps {
		eps = t.Tie
	}
	less := fragFit.less
	if t.DeviceFirst {
		less = fragFit.lessDeviceFirst
	}
	var best fragFit
	var buf [][]int
	var scratch []core.Milli
	for i := range nodes {
		n := &nodes[i]
		if !n.Fits(r) {
			continue
		}
		var b float64
		if before != nil && !math.IsNaN(before[i]) {
			b = before[i]
		} else {
			b = m.Fragmentation(n)
			if before != nil {
				before[i] = b
			}
		}
		var fb float64
		if t.FillWeight != 0 {
			if fillBefore != nil && !math.IsNaN(fillBefore[i]) {
				fb = fillBefore[i]
			} else {
				fb = fc.node(m, n)
				if fillBefore != nil {
					fillBefore[i] = fb
				}
			}
		}
		buf = fragCandidates(n, r, buf)
		for _, devs := range buf {
			scratch = append(scratch[:0], n.Free...)
			after := NodeFree{Model: n.Model, Free: scratch, CPUMilli: n.CPUMilli, MemMiB: n.MemMiB}
			after.Take(r, devs)
			fragAfter := m.Fragmentation(&after)
			f := fragFitOf(n, r, devs)
			var fillAfter float64
			if t.FillWeight != 0 {
				fillAfter = fc.node(m, &after)
			}
			delta := fragDelta(fragAfter, b, f.nodeLeft, fillAfter, fb, t)
			if fragBetter(ok, delta, c.Score, eps, f, best, less) {
				c, best, ok = NodeChoice{Node: i, Devices: append([]int(nil), devs...), Score: delta}, f, true
			}
		}
	}
	return c, ok
}
