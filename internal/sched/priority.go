package sched

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Org classes: the first level of the fair-share tree. Startups and SMEs
// share one class.
const (
	ClassResearch = core.OrgResearch
	ClassSME      = core.OrgSME
	ClassIndustry = core.OrgIndustry
	ClassPublic   = core.OrgPublic
)

// ClassOf maps an organisation kind to its fair-share class.
func ClassOf(kind string) string {
	switch kind {
	case core.OrgStartup, core.OrgSME:
		return ClassSME
	case core.OrgResearch, core.OrgIndustry, core.OrgPublic:
		return kind
	}
	return ClassResearch
}

// FairShareConfig configures hierarchical fair share: network -> org class
// -> org -> project -> user. Missing shares default to 1, so siblings
// without configuration share equally.
type FairShareConfig struct {
	// HalfLife of recorded usage. 0 = 7 days (Slurm's PriorityDecayHalfLife).
	HalfLife time.Duration
	// ClassShares by class (research, sme, industry, public).
	ClassShares map[string]float64
	// OrgKind maps an organisation to its kind (core.Org.Kind); unknown
	// organisations count as research.
	OrgKind map[string]string
	// OrgShares, ProjectShares ("org/project") and UserShares
	// ("org/project/user") weigh siblings below a class.
	OrgShares     map[string]float64
	ProjectShares map[string]float64
	UserShares    map[string]float64
}

// Account identifies a fair-share leaf: who a job is charged to.
type Account struct{ Org, Project, User string }

type acct struct {
	name     string
	share    float64
	usage    float64 // decayed accelerator-seconds
	stamp    int64   // unix seconds usage was decayed to
	children []*acct // sorted by name
	order    []*acct // children in Fair Tree order, at the last Rank
	rank     int     // leaves: position in Fair Tree order
	lf       float64
	path     [4]*acct // leaves: class, org, project, user (Charge's walk)
}

// FairTree is the fair-share tree with decayed usage. It ranks users the
// way Slurm's Fair Tree does: siblings are ordered by level fairshare
// (normalised share over normalised usage), depth first, and a user's
// factor is its place in that order.
type FairTree struct {
	cfg    FairShareConfig
	root   *acct
	leaves map[Account]*acct
	nodes  map[string]*acct
	users  int
	dirty  bool
	grown  bool // accounts added since the last Rank
	// decays caches decayFactor for small steps (0 = not yet computed).
	decays [256]float64
}

// NewFairTree returns an empty tree under cfg.
func NewFairTree(cfg FairShareConfig) *FairTree {
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = 7 * 24 * time.Hour
	}
	return &FairTree{cfg: cfg, root: &acct{share: 1}, leaves: map[Account]*acct{}, nodes: map[string]*acct{}}
}

func share(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok && v >= 0 {
		return v
	}
	return 1
}

func (t *FairTree) child(parent *acct, key, name string, sh float64) *acct {
	if a, ok := t.nodes[key]; ok {
		return a
	}
	a := &acct{name: name, share: sh}
	t.nodes[key] = a
	i, _ := slices.BinarySearchFunc(parent.children, name, func(x *acct, n string) int { return strings.Compare(x.name, n) })
	parent.children = slices.Insert(parent.children, i, a)
	t.dirty, t.grown = true, true
	return a
}

// leaf returns (creating) the account of a, and its path from the class.
func (t *FairTree) leaf(a Account) *acct {
	if l, ok := t.leaves[a]; ok {
		return l
	}
	class := ClassOf(t.cfg.OrgKind[a.Org])
	c := t.child(t.root, class, class, share(t.cfg.ClassShares, class))
	o := t.child(c, class+"/"+a.Org, a.Org, share(t.cfg.OrgShares, a.Org))
	p := t.child(o, class+"/"+a.Org+"/"+a.Project, a.Project, share(t.cfg.ProjectShares, a.Org+"/"+a.Project))
	u := t.child(p, class+"/"+a.Org+"/"+a.Project+"/"+a.User, a.User, share(t.cfg.UserShares, a.Org+"/"+a.Project+"/"+a.User))
	u.path = [4]*acct{c, o, p, u}
	t.leaves[a] = u
	t.users++
	return u
}

// decayFactor is 2^(-dt/half-life). Charges come every few seconds of
// virtual time, so the factors for the first 256 seconds are computed once
// (the same values math.Exp2 gives each time).
func (t *FairTree) decayFactor(dt int64) float64 {
	if dt < int64(len(t.decays)) {
		if f := t.decays[dt]; f != 0 {
			return f
		}
		f := math.Exp2(-float64(dt) / t.cfg.HalfLife.Seconds())
		t.decays[dt] = f
		return f
	}
	return math.Exp2(-float64(dt) / t.cfg.HalfLife.Seconds())
}

func (t *FairTree) decay(x *acct, now int64) {
	if now > x.stamp {
		if x.usage != 0 {
			x.usage *= t.decayFactor(now - x.stamp)
		}
		x.stamp = now
	}
}

// Add makes sure a has a place in the tree (with no usage), so that it is
// ranked at the next Rank.
func (t *FairTree) Add(a Account) { t.leaf(a) }

// Leaf is an account's place in a tree: a handle for ChargeLeaf, which
// then needs no lookup by the account's three names.
type Leaf struct{ a *acct }

// Leaf returns a's place (creating it, as Add does).
func (t *FairTree) Leaf(a Account) Leaf { return Leaf{t.leaf(a)} }

// Charge records accelerator-seconds of use by a at time now, on the
// account and every level above it.
func (t *FairTree) Charge(a Account, accelSeconds float64, now time.Time) {
	t.ChargeLeaf(t.Leaf(a), accelSeconds, now)
}

// ChargeLeaf is Charge for the account whose Leaf l is (from this tree).
func (t *FairTree) ChargeLeaf(l Leaf, accelSeconds float64, now time.Time) {
	s := now.Unix()
	// The leaf keeps its path: no key strings built per charge (the
	// twin charges on every start and end).
	for _, x := range l.a.path {
		t.decay(x, s)
		x.usage += accelSeconds
	}
	t.dirty = true
}

// Owed is use recorded for an account and not yet charged to the tree:
// decayed accelerator-seconds as of a time. A shell whose order does not
// depend on the tree (its fair-share weight is 0) accrues an account's
// charges here (one node instead of the account's whole path) and settles
// them before it reads the tree. Settling charges the same use, decayed
// the same way, but in a different order: the tree's sums may differ
// from ChargeLeaf's in their last bits.
type Owed struct {
	usage float64
	at    int64 // unix seconds usage is decayed to
	any   bool
}

// Accrue records accelSeconds of use at now in o, decaying what o holds
// as the tree decays usage.
func (t *FairTree) Accrue(o *Owed, accelSeconds float64, now time.Time) {
	s := now.Unix()
	if s > o.at {
		if o.usage != 0 {
			o.usage *= t.decayFactor(s - o.at)
		}
		o.at = s
	}
	o.usage += accelSeconds
	o.any = true
}

// Owes reports whether o holds use not yet settled.
func (o *Owed) Owes() bool { return o.any }

// Settle charges what o holds, decayed to now, to the account whose Leaf
// l is, and empties o. now is when the tree is read: not before any use
// accrued in o or charged to the tree.
func (t *FairTree) Settle(l Leaf, o *Owed, now time.Time) {
	if !o.any {
		return
	}
	t.Accrue(o, 0, now)
	for _, x := range l.a.path {
		t.decay(x, o.at)
		x.usage += o.usage
	}
	t.dirty = true
	*o = Owed{}
}

// Usage reports the decayed usage (accelerator-seconds) of a path such as
// "research", "research/org" or "research/org/project/user", as of now.
func (t *FairTree) Usage(path string, now time.Time) float64 {
	x, ok := t.nodes[path]
	if !ok {
		return 0
	}
	t.decay(x, now.Unix())
	return x.usage
}

// Rank recomputes every user's place as of now. Call it before Factor
// when usage changed.
func (t *FairTree) Rank(now time.Time) {
	s := now.Unix()
	n := 0
	var walk func(x *acct)
	walk = func(x *acct) {
		if len(x.children) == 0 {
			x.rank = n
			n++
			return
		}
		var sumS, sumU float64
		for _, c := range x.children {
			t.decay(c, s)
			sumS += c.share
			sumU += c.usage
		}
		for _, c := range x.children {
			sn, un := 0.0, 0.0
			if sumS > 0 {
				sn = c.share / sumS
			}
			if sumU > 0 {
				un = c.usage / sumU
			}
			switch {
			case sn == 0:
				c.lf = 0
			case un == 0:
				c.lf = math.Inf(1)
			default:
				c.lf = sn / un
			}
		}
		// Sorted in a copy kept per node (children stays sorted by name):
		// Rank runs at most passes, and on the twin's chains of single
		// children a fresh copy per node was most of its cost.
		order := x.children
		if len(order) > 1 {
			x.order = append(x.order[:0], x.children...)
			slices.SortStableFunc(x.order, func(a, b *acct) int { return cmp.Compare(b.lf, a.lf) })
			order = x.order
		}
		if x == t.root {
			for i, c := range order {
				c.rank = i
			}
		}
		for _, c := range order {
			if c.share > 0 || len(c.children) > 0 {
				walk(c)
			}
		}
	}
	walk(t.root)
	t.dirty, t.grown = false, false
}

// Factor is a's fair-share factor in [0,1]: 1 for the first user in Fair
// Tree order, falling linearly to 1/users for the last.
func (t *FairTree) Factor(a Account) (factor float64, rank, users int) {
	l := t.leaf(a)
	if t.users == 0 {
		return 1, 0, 0
	}
	return float64(t.users-l.rank) / float64(t.users), l.rank + 1, t.users
}

// ClassFactor is the class factor of a's org class in [0,1]: 1 for the
// class first in Fair Tree order (furthest below its share), falling
// linearly to 1/classes for the last; with its name, 1-based place and
// the number of classes.
func (t *FairTree) ClassFactor(a Account) (factor float64, class string, rank, classes int) {
	return t.LeafClass(t.Leaf(a))
}

// LeafClass is ClassFactor for the account whose Leaf l is (from this
// tree), without a lookup by name.
func (t *FairTree) LeafClass(l Leaf) (factor float64, class string, rank, classes int) {
	c := l.a.path[0]
	n := len(t.root.children)
	if n == 0 {
		return 1, c.name, 0, 0
	}
	return float64(n-c.rank) / float64(n), c.name, c.rank + 1, n
}

// LeafClassFactor is ClassFactor's factor for the account whose Leaf l
// is (from this tree), without a lookup by name.
func (t *FairTree) LeafClassFactor(l Leaf) float64 {
	n := len(t.root.children)
	if n == 0 {
		return 1
	}
	return float64(n-l.a.path[0].rank) / float64(n)
}

// LeafFactor is Factor for the account whose Leaf l is (from this tree),
// without a lookup by name.
func (t *FairTree) LeafFactor(l Leaf) (factor float64, rank, users int) {
	if t.users == 0 {
		return 1, 0, 0
	}
	return float64(t.users-l.a.rank) / float64(t.users), l.a.rank + 1, t.users
}

// Dirty reports whether usage or accounts changed since the last Rank.
func (t *FairTree) Dirty() bool { return t.dirty }

// Grown reports whether accounts were added since the last Rank: they have
// no place in the order until the next.
func (t *FairTree) Grown() bool { return t.grown }

// PriorityConfig weighs the multifactor priority, in the manner of Slurm's
// priority/multifactor. Each factor is in [0,1]; the priority is the
// weighted sum. All weights zero gives FIFO (ties by id).
type PriorityConfig struct {
	AgeWeight       float64
	FairShareWeight float64
	QoSWeight       float64
	SizeWeight      float64
	// MaxAge is the age at which the age factor saturates. 0 = 7 days.
	MaxAge time.Duration
	// QoS maps an access mode to its factor. Missing modes use
	// DefaultQoSFactors.
	QoS map[string]float64
	// ClassWeight weighs the class factor: the standing of the job's org
	// class (the fair tree's first level) among the classes, 1 for the
	// class furthest below its share. Weighed above every other factor,
	// it makes fair share between classes the outer order, with the
	// other factors ordering inside a class (engine.DefaultConfig).
	ClassWeight float64
	// AttainedWeight weighs the attained-service factor (LAS): 1 in the
	// first queue, 0 in the last.
	AttainedWeight float64
	// LAS configures the attained-service queues and the starvation
	// guard.
	LAS LASConfig
}

// DefaultQoSFactors rank the access modes: fast-lane first, then
// moonshot and large-scale, normal, playground last.
var DefaultQoSFactors = map[string]float64{
	core.QoSFastLane:   1,
	core.QoSMoonshot:   0.8,
	core.QoSLargeScale: 0.6,
	core.QoSNormal:     0.4,
	"":                 0.4,
	core.QoSPlayground: 0.1,
}

// DefaultPriority is a reasonable starting point: fair share dominates,
// then QoS, then age.
func DefaultPriority() PriorityConfig {
	return PriorityConfig{AgeWeight: 1000, FairShareWeight: 10000, QoSWeight: 2000, SizeWeight: 500, MaxAge: 7 * 24 * time.Hour}
}

// Factor is one term of a job's priority, as `sprio` shows it.
type Factor struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`  // in [0,1]
	Weight float64 `json:"weight"` // from configuration
	Points float64 `json:"points"` // Value * Weight
	Note   string  `json:"note,omitempty"`
}

// Breakdown is a job's priority factor by factor.
type Breakdown struct {
	ID      core.JobID `json:"id"`
	Total   float64    `json:"priority"`
	Factors []Factor   `json:"factors"`
}

// PriorityInput is what the priority of one job depends on.
type PriorityInput struct {
	ID        core.JobID
	Submit    time.Time
	QoS       string
	Milli     core.Milli
	Account   Account
	Total     core.Milli // size of the network, for the size factor
	FairShare float64    // from FairTree.Factor
	FSRank    int
	FSUsers   int
	// Class factor (FairTree.ClassFactor): the account's org class, its
	// place among the classes in fair-tree order, and how many there are.
	ClassFactor float64
	Class       string
	ClassRank   int
	Classes     int
	// Attained is the accelerator-seconds the job has run so far (over
	// every run, when it was preempted and requeued), Ran the time, and
	// Queued when it was last queued after running (zero if it never ran).
	Attained float64
	Ran      time.Duration
	Queued   time.Time
}

// Value computes a job's priority at now: the sum Priority reports,
// without the breakdown (the scheduler's hot path).
func (c *PriorityConfig) Value(in *PriorityInput, now time.Time) float64 {
	age, q, size := c.factors(in, now)
	v := age*c.AgeWeight + in.FairShare*c.FairShareWeight + q*c.QoSWeight + size*c.SizeWeight
	if c.ClassWeight != 0 {
		v += in.ClassFactor * c.ClassWeight
	}
	if c.AttainedWeight != 0 {
		f, _, _ := c.attainedFactor(in, now)
		v += f * c.AttainedWeight
	}
	return v
}

func (c *PriorityConfig) factors(in *PriorityInput, now time.Time) (age, q, size float64) {
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = 7 * 24 * time.Hour
	}
	age = min(max(now.Sub(in.Submit).Seconds()/maxAge.Seconds(), 0), 1)
	var ok bool
	if q, ok = c.QoS[in.QoS]; !ok {
		q = DefaultQoSFactors[in.QoS]
	}
	if in.Total > 0 {
		size = min(float64(in.Milli)/float64(in.Total), 1)
	}
	return age, q, size
}

// Priority computes a job's priority at now, factor by factor.
func (c PriorityConfig) Priority(in PriorityInput, now time.Time) Breakdown {
	age, q, size := c.factors(&in, now)
	b := Breakdown{ID: in.ID, Factors: []Factor{
		{Name: "age", Value: age, Weight: c.AgeWeight},
		{Name: "fairshare", Value: in.FairShare, Weight: c.FairShareWeight},
		{Name: "qos", Value: q, Weight: c.QoSWeight},
		{Name: "size", Value: size, Weight: c.SizeWeight},
	}}
	if in.FSUsers > 0 {
		b.Factors[1].Note = strings.Join([]string{in.Account.Org, in.Account.Project, in.Account.User}, "/") + " is user " + strconv.Itoa(in.FSRank) + " of " + strconv.Itoa(in.FSUsers) + " in fair-tree order"
	}
	if in.QoS != "" {
		b.Factors[2].Note = in.QoS
	}
	if c.ClassWeight != 0 {
		f := Factor{Name: "class", Value: in.ClassFactor, Weight: c.ClassWeight}
		if in.Classes > 0 {
			f.Note = "class " + in.Class + " is " + strconv.Itoa(in.ClassRank) + " of " + strconv.Itoa(in.Classes) + " in fair-tree order"
		}
		b.Factors = append(b.Factors, f)
	}
	if c.AttainedWeight != 0 {
		v, q, promoted := c.attainedFactor(&in, now)
		b.Factors = append(b.Factors, Factor{Name: "attained", Value: v, Weight: c.AttainedWeight, Note: c.attainedNote(&in, q, promoted, now)})
	}
	for i := range b.Factors {
		f := &b.Factors[i]
		f.Points = f.Value * f.Weight
	}
	b.Total = c.Value(&in, now) // the same sum, in the same order, as the scheduler's
	return b
}
