// Package broker is the federation broker: it picks the one site of the
// federation where a job should run, and says why.
//
// A decision is one pass over the sites (see README.md):
//
//	filter: site pin -> residency -> has compute -> site state -> access mode
//	        -> accelerator model -> largest job the site holds -> walltime
//	score:  estimated start, price, carbon, data gravity, fair-share headroom,
//	        each normalised to [0, 1] and weighted (Weights)
//	pick:   highest score; ties to the lower site id
//
// Every site gets a SiteVerdict: filtered out with a reason people read, or
// its score component by component. That is what `gf explain` shows.
//
// The broker is pure: it imports only the standard library, core and
// sched, starts no goroutines, does no I/O and never reads the clock. What
// depends on the live capacity picture (how long the job would wait at a
// site, its org class's headroom there) comes in through an Estimator the
// engine implements. One decision per job: the broker never sends copies of
// a job to several sites to race them (Slurm federation's sibling jobs).
package broker

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Weights weigh the score components. Each component is normalised to
// [0, 1] (1 best) before weighting, so a weight says how much that
// component matters relative to the others. Negative weights count as 0.
type Weights struct {
	Start     float64 `json:"start"`      // estimated start: sooner is better
	Price     float64 `json:"price"`      // EUR for the job: cheaper is better
	Carbon    float64 `json:"carbon"`     // kg CO2e for the job: less is better
	Data      float64 `json:"data"`       // share of the job's datasets already at the site
	FairShare float64 `json:"fair_share"` // the job's org class's unused share of the site
}

// DefaultWeights favour an early start, then data gravity (moving a large
// dataset costs more than most price differences), then price, carbon and
// fair-share headroom equally.
func DefaultWeights() Weights {
	return Weights{Start: 4, Price: 1, Carbon: 1, Data: 2, FairShare: 1}
}

// Config configures a Broker. The zero value is usable: DefaultWeights,
// DefaultModes, a one-hour wait scale, no dataset registry.
type Config struct {
	// Weights of the score components; the zero value means DefaultWeights.
	Weights Weights `json:"weights"`
	// WaitScale is the wait that halves the start score: score =
	// 1 / (1 + wait/WaitScale). 0 = one hour.
	WaitScale time.Duration `json:"wait_scale,omitempty"`
	// Datasets is the dataset registry: dataset name -> ids of the sites
	// holding a copy.
	Datasets map[string][]string `json:"datasets,omitempty"`
	// Modes says which site kinds accept each access mode (QoS); a mode
	// not listed is treated as "normal". nil = DefaultModes.
	Modes map[string][]string `json:"modes,omitempty"`
}

// DefaultModes: large-scale and moonshot work goes to gigafactories,
// playground work to AI factories, everything else to either. A "local"
// site (one machine, the default config) accepts every mode; an antenna
// accepts nothing, it has no compute.
var DefaultModes = map[string][]string{
	core.QoSPlayground: {core.SiteFactory, core.SiteLocal},
	core.QoSNormal:     {core.SiteFactory, core.SiteGigafactory, core.SiteLocal},
	core.QoSFastLane:   {core.SiteFactory, core.SiteGigafactory, core.SiteLocal},
	core.QoSLargeScale: {core.SiteGigafactory, core.SiteLocal},
	core.QoSMoonshot:   {core.SiteGigafactory, core.SiteLocal},
}

// Estimator answers the questions that depend on the live capacity
// picture. The broker asks only about sites that passed every filter; i is
// the site's index in Broker.Sites.
type Estimator interface {
	// Wait is how long the job is expected to wait at site i before it
	// can start (0 = it fits now).
	Wait(i int) time.Duration
	// Headroom is the unused part, in [0, 1], of the fair share the job's
	// org class has of site i: 1 = the class uses none of it, 0 = it uses
	// its share or more.
	Headroom(i int) float64
}

// Component names, in the order a verdict lists them.
const (
	CompStart     = "start"
	CompPrice     = "price"
	CompCarbon    = "carbon"
	CompData      = "data"
	CompFairShare = "fairshare"
)

// Component is one term of a site's score.
type Component struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"` // raw: seconds of wait, EUR, kg CO2e, share of datasets, headroom
	Unit   string  `json:"unit"`
	Score  float64 `json:"score"` // normalised to [0, 1], 1 best
	Weight float64 `json:"weight"`
}

// SiteVerdict is what the broker made of one site for one job.
type SiteVerdict struct {
	Site     string `json:"site"`
	Country  string `json:"country"`
	Filtered bool   `json:"filtered"`
	// Filter is the filter that removed the site (a Filter* constant),
	// Reason says why in words.
	Filter     string      `json:"filter,omitempty"`
	Reason     string      `json:"reason,omitempty"`
	Score      float64     `json:"score"` // weighted sum of the components' scores
	Components []Component `json:"components,omitempty"`
}

// Decision is the broker's choice for one job: the winner, and every site
// with its verdict, eligible sites best first, then filtered sites by id.
type Decision struct {
	Winner string `json:"winner,omitempty"` // "" when every site was filtered out
	// Reason summarises why there is no winner, for the job's reasons.
	Reason string        `json:"reason,omitempty"`
	Sites  []SiteVerdict `json:"sites"`
}

// Verdict returns the verdict for site id, or nil.
func (d *Decision) Verdict(id string) *SiteVerdict {
	for i := range d.Sites {
		if d.Sites[i].Site == id {
			return &d.Sites[i]
		}
	}
	return nil
}

// Component returns the named component, or the zero Component.
func (v *SiteVerdict) Component(name string) Component {
	for _, c := range v.Components {
		if c.Name == name {
			return c
		}
	}
	return Component{}
}

// site is a core.Site prepared for fast filtering.
type site struct {
	core.Site
	idx      int
	compute  bool
	kindBit  uint8
	pools    []pool
	models   string // "A, B": for reasons
	maxWall  time.Duration
	defWall  time.Duration
	rsnState string
	rsnRes   string
	rsnModel string
}

type pool struct {
	model    string
	k        int // accelerators per node; 0 for CPUs only
	nodes    int // nodes
	powerKW  float64
	cpus     int // per node; 0 = not declared
	mem      int // MiB per node; 0 = not declared
	features []string
}

// Broker decides where jobs run. It holds the sites and their lifecycle
// states, and working memory that Decide reuses; it is not safe for
// concurrent use (the engine owns one).
type Broker struct {
	cfg       Config
	w         Weights
	waitScale float64 // seconds
	sites     []site
	byID      map[string]int
	modes     map[string]uint8 // access mode -> bitmask of site kinds
	rsnMode   map[string]string
	datasets  map[string][]bool // dataset -> per site index
	byName    []int             // site indices by id
	scr       scratch
}

// scratch is Decide's working memory, kept between calls.
type scratch struct {
	filter, reason []string // per site index
	slot           []int    // per site index: offset of its components
	score          []float64
	live           []int // eligible site indices
	comps          []Component
}

var kindBits = map[string]uint8{core.SiteLocal: 1, core.SiteFactory: 2, core.SiteGigafactory: 4, core.SiteAntenna: 8}

// defaultPowerKW is the board power assumed for a pool that states none.
const defaultPowerKW = 0.7

// New returns a broker over sites (in the order given; Sites reports it).
func New(cfg Config, sites []core.Site) *Broker {
	b := &Broker{cfg: cfg, w: cfg.Weights, byID: map[string]int{}, modes: map[string]uint8{}, rsnMode: map[string]string{}}
	if b.w == (Weights{}) {
		b.w = DefaultWeights()
	}
	b.w = Weights{Start: max(b.w.Start, 0), Price: max(b.w.Price, 0), Carbon: max(b.w.Carbon, 0), Data: max(b.w.Data, 0), FairShare: max(b.w.FairShare, 0)}
	b.waitScale = cfg.WaitScale.Seconds()
	if b.waitScale <= 0 {
		b.waitScale = time.Hour.Seconds()
	}
	modes := cfg.Modes
	if modes == nil {
		modes = DefaultModes
	}
	for mode, kinds := range modes {
		var m uint8
		for _, k := range kinds {
			m |= kindBits[k]
		}
		b.modes[mode] = m
		b.rsnMode[mode] = "access mode " + modeName(mode) + " runs only on " + kindList(kinds)
	}
	for i, s := range sites {
		ps := site{Site: s, idx: i, kindBit: kindBits[s.Kind]}
		var names []string
		for _, p := range s.Pools {
			if p.Nodes <= 0 || p.AccelPerNode <= 0 && p.CPUsPerNode <= 0 {
				continue // nothing a job could use
			}
			kw := float64(p.PowerW) / 1000
			if kw <= 0 {
				kw = defaultPowerKW
			}
			ps.pools = append(ps.pools, pool{model: p.Model, k: p.AccelPerNode, nodes: p.Nodes, powerKW: kw,
				cpus: p.CPUsPerNode, mem: p.MemMiBPerNode, features: p.Features})
			if p.AccelPerNode > 0 && !slices.Contains(names, p.Model) {
				names = append(names, p.Model)
			}
		}
		ps.compute = len(ps.pools) > 0 && s.Kind != core.SiteAntenna
		ps.models = strings.Join(names, ", ")
		ps.maxWall = time.Duration(s.MaxWalltime)
		ps.defWall = time.Duration(s.DefaultWalltime)
		if ps.defWall <= 0 {
			ps.defWall = time.Hour
		}
		ps.rsnRes = "residency: the site's country is not one the job allows"
		ps.rsnModel = "accelerator model: site has " + ps.models
		b.sites = append(b.sites, ps)
		b.byID[s.ID] = i
	}
	for i := range b.sites {
		b.SetState(b.sites[i].ID, b.sites[i].State)
		b.byName = append(b.byName, i)
	}
	slices.SortStableFunc(b.byName, func(x, y int) int { return strings.Compare(b.sites[x].ID, b.sites[y].ID) })
	if len(cfg.Datasets) > 0 {
		b.datasets = map[string][]bool{}
		for ds, ids := range cfg.Datasets {
			at := make([]bool, len(b.sites))
			for _, id := range ids {
				if i, ok := b.byID[id]; ok {
					at[i] = true
				}
			}
			b.datasets[ds] = at
		}
	}
	return b
}

func modeName(m string) string {
	if m == "" {
		return "(default)"
	}
	return m
}

func kindList(kinds []string) string {
	var out []string
	for _, k := range kinds {
		switch k {
		case core.SiteFactory:
			out = append(out, "AI factories")
		case core.SiteGigafactory:
			out = append(out, "gigafactories")
		case core.SiteLocal:
			out = append(out, "local sites")
		default:
			out = append(out, k+" sites")
		}
	}
	if len(out) == 0 {
		return "no site"
	}
	return strings.Join(out, ", ")
}

// Sites returns the sites the broker decides among, in index order, with
// their current states.
func (b *Broker) Sites() []core.Site {
	out := make([]core.Site, len(b.sites))
	for i := range b.sites {
		out[i] = b.sites[i].Site
	}
	return out
}

// Index returns site id's index, the i an Estimator is asked about.
func (b *Broker) Index(id string) (int, bool) {
	i, ok := b.byID[id]
	return i, ok
}

// WalltimeReason says why site id cannot take a job of spec sp for its
// walltime, "" when it can (or the site is unknown): its walltime, or the
// site's default for a job that gives none, is over the site's maximum.
// Decide filters on it (FilterWalltime); a job pinned to a site, which
// is not routed, is checked with it.
func (b *Broker) WalltimeReason(id string, sp *core.JobSpec) string {
	i, ok := b.byID[id]
	if !ok {
		return ""
	}
	s := &b.sites[i]
	if wall := b.wall(s, sp); s.maxWall > 0 && wall > s.maxWall {
		return "walltime " + wall.String() + " is over the maximum of site " + id + ", " + s.maxWall.String()
	}
	return ""
}

// State returns site id's lifecycle state ("" for an unknown site).
func (b *Broker) State(id string) string {
	if i, ok := b.byID[id]; ok {
		return b.sites[i].State
	}
	return ""
}

// SetState sets site id's lifecycle state (core.SiteActive, SiteDraining,
// SiteDown; "" counts as active). It reports whether the site is known.
func (b *Broker) SetState(id, state string) bool {
	i, ok := b.byID[id]
	if !ok {
		return false
	}
	s := &b.sites[i]
	s.State = state
	switch state {
	case "", core.SiteActive:
		s.rsnState = ""
	case core.SiteDraining:
		s.rsnState = "site is draining: it receives no new jobs"
	case core.SiteDown:
		s.rsnState = "site is down"
	default:
		s.rsnState = "site is " + state
	}
	return true
}

// Filters, in the order they are applied. A filtered site's verdict names
// the first that removed it.
const (
	FilterPin = "pin"
	// FilterAward: the site is not one the job's award allows.
	FilterAward     = "award"
	FilterResidency = "residency"
	FilterCompute   = "compute"
	FilterState     = "state"
	FilterMode      = "mode"
	FilterModel     = "model"
	// FilterConstraint: no pool of the job's model has the features its
	// constraint (-C) asks for.
	FilterConstraint = "constraint"
	FilterSize       = "size"
	FilterWalltime   = "walltime"
)

// filter returns the first filter site s fails for job spec sp, and why.
func (b *Broker) filter(s *site, sp *core.JobSpec, need core.Milli, mode uint8, wall time.Duration) (string, string) {
	if sp.Site != "" && sp.Site != s.ID {
		return FilterPin, "job is pinned to site " + sp.Site
	}
	if len(sp.AwardSites) > 0 && !slices.Contains(sp.AwardSites, s.ID) {
		return FilterAward, "award " + sp.Award + " is for sites " + strings.Join(sp.AwardSites, ", ") + " only"
	}
	if !allowed(sp.Residency, s.Country) {
		return FilterResidency, s.rsnRes
	}
	if !s.compute {
		return FilterCompute, "antenna: an access point without compute"
	}
	if s.rsnState != "" {
		return FilterState, s.rsnState
	}
	if mode&s.kindBit == 0 {
		r, ok := b.rsnMode[sp.QoS]
		if !ok {
			r = b.rsnMode[core.QoSNormal]
		}
		return FilterMode, r
	}
	model, matched, size := false, false, false
	var cons sched.Constraint
	if sp.Constraint != "" {
		var err error
		if cons, err = sched.ParseConstraint(sp.Constraint); err != nil {
			return FilterConstraint, err.Error()
		}
	}
	for i := range s.pools {
		p := &s.pools[i]
		if !modelOK(sp.Model, p.model) || p.k == 0 && sp.Accelerators > 0 {
			continue // accelerators never go to a pool of CPUs only
		}
		model = true
		if sp.Constraint != "" && !cons.Match(p.model, p.features) {
			continue
		}
		matched = true
		if fits(sp, need, p) {
			size = true
			break
		}
	}
	if !model {
		return FilterModel, s.rsnModel
	}
	if !matched {
		return FilterConstraint, "constraint " + strconv.Quote(sp.Constraint) + ": no pool of the job's model here has those features"
	}
	if !size && sp.Accelerators > 0 {
		size = s.spanFits(sp, need, cons) // a gang across pools (sched.placeSpan)
	}
	if !size {
		if sp.Accelerators <= 0 {
			return FilterSize, "largest job: no pool here has " + askHost(sp) + " per node"
		}
		return FilterSize, "largest job: no pool of the job's model here can hold " + need.String() + " accelerators" + shapeNote(sp)
	}
	if s.maxWall > 0 && wall > s.maxWall {
		return FilterWalltime, "walltime " + wall.String() + " is over the site's maximum of " + s.maxWall.String()
	}
	return "", ""
}

func shapeNote(sp *core.JobSpec) string {
	if sp.Nodes > 0 || sp.PerNode > 0 {
		return " in the requested node shape"
	}
	return ""
}

// allowed reports whether country satisfies residency (empty = anywhere;
// "EU" = the member states).
func allowed(residency []string, country string) bool {
	if len(residency) == 0 {
		return true
	}
	for _, c := range residency {
		if c == country || c == "EU" && InEU(country) {
			return true
		}
	}
	return false
}

// modelOK reports whether pool model m is one of the "|"-separated
// acceptable models (empty = any).
func modelOK(want, m string) bool {
	if want == "" {
		return true
	}
	for want != "" {
		var one string
		one, want, _ = strings.Cut(want, "|")
		if one == m {
			return true
		}
	}
	return false
}

// fits reports whether a job of need accelerators could ever run on pool
// p: a single-node job within one node, a multi-node job within the
// pool's nodes, in the requested shape.
func fits(sp *core.JobSpec, need core.Milli, p *pool) bool {
	cpus, mem := hostOf(sp)
	if p.cpus > 0 && cpus > p.cpus || p.mem > 0 && mem > p.mem {
		return false
	}
	if sp.Accelerators <= 0 {
		// CPUs only: a pool that declares its CPUs (sched.Eligible).
		return p.cpus > 0 && sp.Nodes <= p.nodes
	}
	if p.k == 0 {
		return false
	}
	w := need.Whole()
	per := p.k
	if sp.PerNode > 0 {
		if sp.PerNode > p.k {
			return false
		}
		per = sp.PerNode
	}
	switch {
	case sp.Nodes == 1:
		return w <= p.k
	case sp.Nodes > 1:
		return sp.Nodes <= p.nodes && (w+sp.Nodes-1)/sp.Nodes <= per
	case w <= p.k:
		return true
	default:
		return (w+per-1)/per <= p.nodes
	}
}

// hostOf is the CPUs and MiB of memory sp asks for per node, as the
// scheduler counts them (sched.RequestOf).
func hostOf(sp *core.JobSpec) (cpus, mem int) {
	cpus = sched.CPUsPerNode(sp)
	mem = sp.MemMiBPerNode
	if mem == 0 && sp.MemMiBPerCPU > 0 {
		mem = sp.MemMiBPerCPU * max(cpus, 1)
	}
	return cpus, mem
}

// askHost words the CPUs and memory sp asks for per node.
func askHost(sp *core.JobSpec) string {
	cpus, mem := hostOf(sp)
	s := strconv.Itoa(max(cpus, 1)) + " CPUs"
	if mem > 0 {
		s += " and " + strconv.Itoa(mem) + " MiB"
	}
	return s
}

// Decide picks the site for job j. est is asked about sites that pass every
// filter. The decision is deterministic: equal inputs give equal
// decisions, ties go to the lower site id.
func (b *Broker) Decide(j *core.Job, est Estimator) Decision { return b.decide(j, est, false, nil) }

// DecideWinner is Decide for callers that will only ever read the
// winner's verdict (the digital twin): the Decision lists the winner
// alone, or, when no site can take the job, every site's verdict as
// Decide does (its Reason needs them). It builds no other site's verdict
// and reuses its scratch space, so it allocates only the winner's.
func (b *Broker) DecideWinner(j *core.Job, est Estimator) Decision {
	return b.decide(j, est, true, nil)
}

func (b *Broker) decide(j *core.Job, est Estimator, winnerOnly bool, memo *Memo) Decision {
	sp := &j.Spec
	need := sp.Accelerators
	if need <= 0 {
		need = 1000
	}
	mode, ok := b.modes[sp.QoS]
	if !ok {
		mode = b.modes[core.QoSNormal]
	}
	// Filter, in site id order.
	sc := &b.scr
	n := len(b.sites)
	if len(sc.filter) != n {
		sc.filter, sc.reason, sc.slot, sc.score = make([]string, n), make([]string, n), make([]int, n), make([]float64, n)
	}
	sc.live = sc.live[:0]
	for _, i := range b.byName {
		s := &b.sites[i]
		f, r := b.filter(s, sp, need, mode, b.wall(s, sp))
		sc.filter[i], sc.reason[i] = f, r
		if f == "" {
			sc.slot[i] = 5 * len(sc.live)
			sc.live = append(sc.live, i)
		}
	}
	// Score the survivors.
	var comps []Component
	if winnerOnly {
		sc.comps = slices.Grow(sc.comps[:0], 5*len(sc.live))[:5*len(sc.live)]
		comps = sc.comps
	} else {
		comps = make([]Component, 5*len(sc.live))
	}
	minPrice, minCO2 := math.Inf(1), math.Inf(1)
	for _, i := range sc.live {
		c := comps[sc.slot[i] : sc.slot[i]+5 : sc.slot[i]+5]
		b.components(i, sp, need, est, c)
		minPrice, minCO2 = min(minPrice, c[1].Value), min(minCO2, c[2].Value)
	}
	for _, i := range sc.live {
		sc.score[i] = total(comps[sc.slot[i]:sc.slot[i]+5], minPrice, minCO2)
	}
	if winnerOnly && len(sc.live) > 0 {
		if memo != nil {
			memo.keep(sc, comps, minPrice, minCO2, est)
		}
		return b.winner(sc.live, sc.score, sc.slot, comps)
	}
	// Best first; the stable sort keeps id order among equal scores.
	slices.SortStableFunc(sc.live, func(x, y int) int { return cmp.Compare(sc.score[y], sc.score[x]) })
	d := Decision{Sites: make([]SiteVerdict, n)}
	k := 0
	for _, i := range sc.live {
		s := &b.sites[i]
		o := sc.slot[i]
		d.Sites[k] = SiteVerdict{Site: s.ID, Country: s.Country, Score: sc.score[i], Components: comps[o : o+5 : o+5]}
		k++
	}
	for _, i := range b.byName {
		if sc.filter[i] != "" {
			s := &b.sites[i]
			d.Sites[k] = SiteVerdict{Site: s.ID, Country: s.Country, Filtered: true, Filter: sc.filter[i], Reason: sc.reason[i]}
			k++
		}
	}
	if len(sc.live) > 0 {
		d.Winner = d.Sites[0].Site
	} else {
		d.Reason = noSite(d.Sites)
	}
	return d
}

// components sets c, the five components of site i's verdict for the job
// spec sp, but the scores of price and carbon, which are relative to the
// cheapest eligible site (total sets them).
func (b *Broker) components(i int, sp *core.JobSpec, need core.Milli, est Estimator, c []Component) {
	s := &b.sites[i]
	hours := b.wall(s, sp).Hours() * float64(need) / 1000
	price := s.PricePerAccelHour * hours
	pue := s.PUE
	if pue <= 0 {
		pue = 1
	}
	kwh := hours * b.powerKW(s, sp.Model) * pue
	co2 := s.CarbonGPerKWh * kwh / 1000
	wait := max(est.Wait(i), 0).Seconds()
	data := 1.0
	if n := len(sp.Datasets); n > 0 {
		held := 0
		for _, ds := range sp.Datasets {
			if at := b.datasets[ds]; at != nil && at[i] {
				held++
			}
		}
		data = float64(held) / float64(n)
	}
	head := min(max(est.Headroom(i), 0), 1)
	c[0] = Component{Name: CompStart, Value: wait, Unit: "s", Score: 1 / (1 + wait/b.waitScale), Weight: b.w.Start}
	c[1] = Component{Name: CompPrice, Value: price, Unit: "EUR", Weight: b.w.Price}
	c[2] = Component{Name: CompCarbon, Value: co2, Unit: "kgCO2e", Weight: b.w.Carbon}
	c[3] = Component{Name: CompData, Value: data, Unit: "share", Score: data, Weight: b.w.Data}
	c[4] = Component{Name: CompFairShare, Value: head, Unit: "share", Score: head, Weight: b.w.FairShare}
}

// total scores price and carbon of c against the cheapest eligible site's
// and returns the weighted sum of c's scores.
func total(c []Component, minPrice, minCO2 float64) float64 {
	c[1].Score = ratio(minPrice, c[1].Value)
	c[2].Score = ratio(minCO2, c[2].Value)
	var t float64
	for _, x := range c {
		t += x.Score * x.Weight
	}
	return t
}

// winner is the decision for the first best of the live sites (in id
// order), as Decide's stable sort would put first, listing it alone.
func (b *Broker) winner(live []int, score []float64, slot []int, comps []Component) Decision {
	i := live[0]
	for _, k := range live[1:] {
		if cmp.Compare(score[k], score[i]) > 0 {
			i = k
		}
	}
	s := &b.sites[i]
	o := slot[i]
	v := SiteVerdict{Site: s.ID, Country: s.Country, Score: score[i], Components: slices.Clone(comps[o : o+5])}
	return Decision{Winner: s.ID, Sites: []SiteVerdict{v}}
}

// wall is the job's walltime at s: its own, else the site's default.
func (b *Broker) wall(s *site, sp *core.JobSpec) time.Duration {
	if sp.Walltime > 0 {
		return time.Duration(sp.Walltime)
	}
	return s.defWall
}

// ratio normalises a cost: the cheapest candidate scores 1, one costing
// twice as much 0.5. A zero cost scores 1.
func ratio(best, v float64) float64 {
	if v <= 0 || best >= v {
		return 1
	}
	return best / v
}

// powerKW is the board power of the first pool at s matching model.
func (b *Broker) powerKW(s *site, model string) float64 {
	for i := range s.pools {
		if modelOK(model, s.pools[i].model) {
			return s.pools[i].powerKW
		}
	}
	return defaultPowerKW
}

// noSite summarises why every site was filtered out: the filter that
// removed the most sites, with a count.
func noSite(vs []SiteVerdict) string {
	if len(vs) == 0 {
		return "no sites in the federation"
	}
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.Filter]++
	}
	top := ""
	for _, f := range []string{FilterPin, FilterAward, FilterResidency, FilterCompute, FilterState, FilterMode, FilterModel, FilterSize, FilterWalltime} {
		if counts[f] > counts[top] || top == "" && counts[f] > 0 {
			top = f
		}
	}
	return "no eligible site: " + itoa(len(vs)) + " sites filtered out, " + itoa(counts[top]) + " by " + filterWords[top]
}

var filterWords = map[string]string{
	FilterPin: "the site pin", FilterAward: "the award's sites", FilterResidency: "residency", FilterCompute: "having no compute",
	FilterState: "site state", FilterMode: "access mode", FilterModel: "accelerator model",
	FilterSize: "job size", FilterWalltime: "walltime",
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
