package engine

import (
	"cmp"
	"container/heap"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Engine is the scheduling state machine. It is not safe for concurrent
// use: one goroutine of the shell owns it.
//
// A Step is, in order (see internal/sched/README.md):
//  1. reservations: activate and expire advance reservations;
//  2. order: every PriorityInterval recompute fair share and priorities,
//     otherwise merge new jobs into the kept order;
//  3. for each job by priority, through per-shape queues so that jobs
//     identical for placement are decided once:
//     quotas -> place now -> backfill onto held nodes -> preempt ->
//     reserve (top BackfillDepth blocked jobs);
//  4. explain: reasons are kept as data and rendered by Status.
type Engine struct {
	cfg     Config
	cluster *sched.Cluster
	err     error // from building the cluster; every job's reason
	jobs    jobTable

	order []*job // pending jobs by priority; entries whose job left pending are tombstones
	// spareOrder is the array merge builds the next order in; heap is
	// schedule's, kept between passes.
	spareOrder []*job
	heap       shapeHeap
	// stampAt and stampNs memoise stampOf.
	stampAt time.Time
	stampNs int64
	fresh   []*job // pending jobs not yet merged into order
	tombs   int
	shapes  map[shapeKey]*shape // live shapes, and forgotten ones kept for reuse
	groups  map[groupKey]*group
	live    []*shape // shapes with queued jobs, creation order
	// lastShape is the shape shapeOf found last: consecutive jobs mostly
	// share one, and comparing the key is cheaper than hashing it.
	lastShape *shape
	// deadShapes counts the forgotten shapes kept in shapes: a shape
	// empties and comes back many times a day (a replay of two days
	// made 280,000 shapes of 10 keys), so its entry and record are kept
	// and revived, up to maxDeadShapes of them.
	deadShapes int

	holds     []*hold // backfill and preemption holds, creation order
	resv      []*advance
	resvFreed bool       // a reservation let go of its nodes: those holding none try again
	onLaunch  func(*job) // a Federation's: a pending job was placed
	fair      *sched.FairTree
	accounts  map[sched.Account]*account
	acctList  []*account
	// acctMemo remembers recent accounts by a cheap digest of the key,
	// so that most jobs find theirs without hashing three strings; the
	// map stays the truth (a slot is checked against the whole key).
	acctMemo [acctSlots]*account
	projects map[string]*project
	// The tier of the QoS classify saw last (most jobs share one).
	tierQoS    string
	tierVal    int
	tierSet    bool
	classes    []core.Milli // accelerators held per org class, by account.cls
	classNames []string     // the classes, by index
	// preemptible holds the placed preemptible jobs: the candidates for
	// preemption, kept apart so that looking for victims does not walk
	// every running job.
	preemptible  map[core.JobID]*job
	victimList   []*job // preemptible, in the map's order, built once per pass
	preemptPass  uint64
	preemptTries int

	now      time.Time
	lastPrio time.Time
	prioDone bool
	pass     uint64
	epoch    uint64 // bumped when capacity returns within a pass
	holdVer  uint64 // bumped when a hold is made or freed
	// reopened is set during a pass when nodes a hold kept aside went
	// back to ordinary placement with room left on them; reopenAt is the
	// job being decided when that happened last. See schedule.
	reopened bool
	reopenAt *job
	// estDue is set by a pass that reprioritised: the estimated starts
	// are out of date and are recomputed when someone reads them
	// (ensureEstimates), at most once per PriorityInterval. A replay that
	// never reads them never pays for them.
	estDue bool
	// run holds the placed jobs' expected ends for estimate, from the
	// first estimate on (runTracked: a replay that never estimates never
	// pays for them), and estQ what an estimate builds from them.
	run        runEnds
	runTracked bool
	estQ       estEnds
	// ends and poolClass keep, for the broker's capacity picture, when
	// placed jobs free each pool and what each org class holds there;
	// nil unless a Federation asked for them (trackPools).
	ends      *endIndex
	poolClass []map[string]core.Milli
	total     core.Milli
	intents   []Intent
	// siteWall and poolWall are the sites' and pools' default walltimes
	// for jobs that give none; nil unless Config.SiteWalltimes.
	siteWall map[string]time.Duration
	poolWall []time.Duration
	// splitStarts and starts: see SplitStarts.
	splitStarts bool
	starts      []Start
	reuseAllocs bool // see ReuseAllocations
	// intentCap sizes a pass's intents: a pass returns a new slice (the
	// caller may keep it), made at its first start as large as recent
	// passes needed, instead of grown by doubling from one.
	intentCap int

	// Records of jobs that left the engine, for reuse: free ones are
	// referenced by nothing; retired ones still are (a tombstone in the
	// order or a shape queue) and move to free once the pass drops them.
	// A replay submits a job for every one that ends: reusing the record
	// that was touched last saves an allocation and a cache miss per job.
	free    []*job
	retired []*job
}

// maxFree bounds the records kept for reuse.
const maxFree = 4096

// job is the engine's record of one job.
type job struct {
	core.Job
	jobState
	// rich: some field of Job that copyPlain skips is set (jobcopy.go).
	// It describes Job, so it outlives a reuse of the record.
	rich bool
}

// jobState is the engine's part of a job record, apart from the job as
// submitted, so that a reused record is cleared without also clearing
// the 608 bytes of core.Job that the next submission overwrites anyway.
type jobState struct {
	req     sched.Request
	shape   *shape
	acct    *account
	proj    *project
	class   string
	cls     int32 // class's index in e.classes
	wall    time.Duration
	tier    int
	prio    float64
	rank    int // position among pending at the last merge
	pl      sched.Placement
	plMilli core.Milli         // pl.Milli(), kept: release needs it per end
	one     [1]sched.NodeShare // pl.Nodes' backing for a one-node placement
	endB    int64              // bucket of e.ends the job's end is counted in
	endIdx  bool               // counted in e.ends
	runAt   int32              // index + 1 in e.run while placed
	start   time.Time
	hold    *hold
	placed  bool
	charged bool // counted in account/project/class running totals
	inOrder bool
	inShape bool
	preempt bool // a Preempt intent was issued

	seenPass uint64   // pass in which w.miss/w.quota were set
	w        *jobWait // nil until the job has to wait for something

	box *sched.Box // Alloc's box, handed back when the job ends (ReuseAllocations)
}

// jobWait is what the engine says about a job that waits: kept apart, as
// most jobs on a network with room start at their first pass and never
// need it (it is a tenth of the record, and the twin holds every running
// job's record).
type jobWait struct {
	miss   sched.Miss // why it waits, as data
	quota  string     // quota reason, when held by a quota
	reason string     // fixed reason (unknown job shapes)
	resv   string     // why a job naming an advance reservation waits (inReservation)
	est    time.Time
	// Attained service (LAS) of a job that ran and was requeued:
	// accelerator-seconds and time run, and when the last run ended.
	attained float64
	ran      time.Duration
	queued   time.Time
}

var noWait jobWait // read-only: wt's answer for a job with no jobWait

// wt is j's wait record for reading.
func (j *job) wt() *jobWait {
	if j.w == nil {
		return &noWait
	}
	return j.w
}

// ww is j's wait record for writing, made on first use.
func (j *job) ww() *jobWait {
	if j.w == nil {
		j.w = &jobWait{}
	}
	return j.w
}

// shapeKey groups pending jobs that the scheduler cannot tell apart: same
// request, walltime, project and tier. Within a shape, jobs start in
// priority order, and once one cannot start nor be reserved, none can.
type shapeKey struct {
	group   groupKey
	project string
	wall    time.Duration
	tier    int
	class   string
	resv    string // the advance reservation its jobs name: they wait for it, not with the others
}

// groupKey is the placement-relevant part of a request.
type groupKey struct {
	milli          core.Milli
	nodes, perNode int
	model, site    string
	countries      string
	cpu, mem       int
	topo           sched.Topology
	// per node: CPUs, memory, all of it, whole nodes; and the constraint
	nodeCPU, nodeMem int
	memAll, excl     bool
	constraint       string
}

type shape struct {
	key   shapeKey
	grp   *group
	q     []*job // priority order
	cur   int    // cursor within the pass
	pass  uint64
	dead  bool
	miss  sched.Miss
	quota string
	idx   int  // heap index
	live  bool // in e.shapes; false once forgotten
}

// group memoises per pass what failed for a request, so later jobs with
// the same request skip the work.
type group struct {
	req        sched.Request
	pools      []int
	failEpoch  uint64 // epoch+1 in which ordinary placement failed
	failPass   uint64
	holdFail   time.Duration // shortest walltime that found no backfill room this pass
	holdPass   uint64
	holdVer    uint64 // the engine's holdVer then: a hold made or freed since may have room
	preemptRun uint64 // pass in which preemption failed
	miss       sched.Miss
	// Reasons naming holds in the group's pools, cached per pass.
	heldText          []string
	heldPass, heldVer uint64
}

// hold is a set of nodes set aside: for a blocked job's EASY reservation,
// for a job whose victims are being preempted, or for an advance
// reservation.
type hold struct {
	kind  holdKind
	job   *job
	adv   *advance
	pool  int
	nodes []int32
	hs    *sched.HoldSet
	at    time.Time // when the holder starts; others may use the nodes only if that delays it not (see backfill)
	// shared: an EASY reservation whose nodes have devices its job will
	// not need (sched.HoldSet.Spare), so a job may run past at beside it.
	shared bool
	// span holds the parts in other pools of a gang's EASY reservation
	// across pools (sched.Earliest.More), each a hold of its own in
	// e.holds with part set; span.go.
	span []*hold
	part bool
}

type holdKind uint8

const (
	holdBackfill holdKind = iota
	holdPreempt
	holdAdvance
)

type advance struct {
	Reservation
	h      *hold
	active bool
	miss   string
}

type account struct {
	key  sched.Account
	leaf sched.Leaf // key's place in the fair tree
	// What every job of the account shares, found once: its project
	// (e.projects[key.Project]) and org class, by name and index.
	proj    *project
	class   string
	cls     int32
	running core.Milli
	last    stamp // when running was last charged
	// owed is use not yet charged to the fair tree: while the order does
	// not depend on the tree (rankFair), flush accrues it here and
	// flushAll, which every reader of the tree calls first, settles it.
	owed sched.Owed
}

// Engine.acctMemo has acctSlots slots, indexed by acctSlot.
const (
	acctSlotBits = 10
	acctSlots    = 1 << acctSlotBits
)

// acctSlot is k's slot in Engine.acctMemo: a digest of the lengths and
// the last bytes of the org (where tenants' names differ), not a hash of
// the whole key; a collision only costs a map lookup.
func acctSlot(k *sched.Account) uint {
	o := k.Org
	h := uint64(len(o)) ^ uint64(len(k.Project))<<8 ^ uint64(len(k.User))<<16
	for i := max(len(o)-8, 0); i < len(o); i++ {
		h = h<<8 ^ h>>56 ^ uint64(o[i])
	}
	return uint((h * 0x9E3779B97F4A7C15) >> (64 - acctSlotBits))
}

type project struct {
	running core.Milli
	last    stamp // when running was last added to usedSec
	usedSec float64
}

// stamp is an instant as Unix nanoseconds, set or not. Accounts and
// projects are charged at every start and end: subtracting two int64s
// costs a fraction of time.Time's Sub (which checks its result by adding
// it back), and the result, through time.Duration's Seconds, is the same.
type stamp struct {
	ns  int64
	set bool
}

// stampOf returns at in Unix nanoseconds (at must not be the zero time), memoised:
// the accounts and projects charged at one time share it.
func (e *Engine) stampOf(at time.Time) int64 {
	if at != e.stampAt {
		e.stampAt, e.stampNs = at, at.UnixNano()
	}
	return e.stampNs
}

// New returns an engine over sites, all capacity free. A site whose pools
// cannot be modelled makes every job wait with that error as its reason.
func New(cfg Config, sites []core.Site) *Engine {
	cl, err := sched.NewCluster(sites)
	if err != nil {
		cl, _ = sched.NewCluster(nil)
	}
	e := &Engine{
		cfg: cfg, cluster: cl, err: err,
		shapes: map[shapeKey]*shape{}, groups: map[groupKey]*group{},
		fair: sched.NewFairTree(cfg.FairShare), accounts: map[sched.Account]*account{},
		projects: map[string]*project{}, preemptible: map[core.JobID]*job{},
	}
	e.total = core.Milli(cl.Total()) * 1000
	if cfg.SiteWalltimes {
		e.siteWall = map[string]time.Duration{}
		for _, s := range sites {
			if s.DefaultWalltime > 0 {
				e.siteWall[s.ID] = time.Duration(s.DefaultWalltime)
			}
		}
		e.poolWall = make([]time.Duration, len(cl.Pools))
		for i, p := range cl.Pools {
			e.poolWall[i] = e.siteWall[p.Site.ID]
		}
	}
	if len(cfg.Fragmentation) > 0 {
		cl.SetFragmentationMix(cfg.Fragmentation, cfg.FragmentationCandidates)
	}
	return e
}

// trackPools makes the engine keep, per pool, when its placed jobs end and
// what each org class holds (for the broker's picture). Call it before any
// job is placed.
func (e *Engine) trackPools() {
	e.ends = newEndIndex(len(e.cluster.Pools))
	e.poolClass = make([]map[string]core.Milli, len(e.cluster.Pools))
	for i := range e.poolClass {
		e.poolClass[i] = map[string]core.Milli{}
	}
}

// Cluster exposes the capacity picture, read-only by convention, for
// reports and tests.
func (e *Engine) Cluster() *sched.Cluster { return e.cluster }

// Apply feeds one event into the engine.
func (e *Engine) Apply(ev Event) {
	switch ev := ev.(type) {
	case Submitted:
		e.submit(&ev.Job)
	case Charged:
		e.charged(ev)
	case *Submitted:
		e.submit(&ev.Job)
	case Started:
		e.started(ev)
	case *Started:
		e.started(*ev)
	case Ended:
		e.ended(ev.ID, ev.At, ev.Requeue)
	case *Ended:
		e.ended(ev.ID, ev.At, ev.Requeue)
	case Cancelled:
		e.ended(ev.ID, ev.At, false)
	case SiteChanged:
		for _, s := range e.cluster.Sites {
			if s.ID == ev.Site {
				s.State = ev.State
			}
		}
		for _, g := range e.groups {
			g.pools = nil
		}
	case Reservation:
		e.reserve(ev)
	case ReservationDeleted:
		e.unreserve(ev.Name)
	case OrgKindSet, ProjectBudgetSet:
		e.setConfig(ev)
	}
}

// submit takes a submission; cj is copied, not kept.
func (e *Engine) submit(cj *core.Job) {
	if old := e.jobs.get(cj.ID); old != nil {
		if old.State == core.StatePending && !old.inOrder && !old.inShape {
			old.setJob(cj)
			old.State = core.StatePending
			e.classify(old)
		}
		return
	}
	j := e.newJob()
	j.setJob(cj)
	e.classify(j)
	e.jobs.put(cj.ID, j)
	if cj.State.Active() && cj.Alloc != nil {
		at := cj.SubmitTime
		if cj.StartTime != nil {
			at = *cj.StartTime
		}
		e.started(Started{ID: cj.ID, Alloc: *cj.Alloc, At: at})
		return
	}
	j.State = core.StatePending
	e.fresh = append(e.fresh, j)
}

// classify derives a job's request, walltime, tier and account.
func (e *Engine) classify(j *job) {
	j.shape = nil
	j.req = sched.RequestOf(&j.Spec)
	j.wall = time.Duration(j.Spec.Walltime)
	if j.wall <= 0 {
		j.wall = e.defaultWall(j.req.Site)
	}
	if q := j.Spec.QoS; q == e.tierQoS && e.tierSet {
		j.tier = e.tierVal
	} else {
		j.tier = e.cfg.tier(q)
		e.tierQoS, e.tierVal, e.tierSet = q, j.tier, true
	}
	key := sched.Account{Org: j.Org, Project: j.Project, User: j.User}
	slot := &e.acctMemo[acctSlot(&key)]
	a := *slot
	if a == nil || a.key != key {
		a = e.account(key)
		*slot = a
	}
	j.acct = a
	j.proj = a.proj
	j.class, j.cls = a.class, a.cls
}

// defaultWall is the walltime a job that gives none is planned with at
// site ("" when the site is not decided yet).
func (e *Engine) defaultWall(site string) time.Duration {
	if e.siteWall != nil {
		if w, ok := e.siteWall[site]; ok {
			return w
		}
	}
	return e.cfg.walltime()
}

// setSite confines pending job j, which is in no shape queue, to site;
// a job that gives no walltime is planned with the site's default.
func (e *Engine) setSite(j *job, site string) {
	j.req.Site = site
	if e.siteWall != nil && j.Spec.Walltime <= 0 {
		if w := e.defaultWall(site); w != j.wall {
			j.wall, j.shape = w, nil
		}
	}
}

// account returns (creating) the account of key.
func (e *Engine) account(key sched.Account) *account {
	a := e.accounts[key]
	if a == nil {
		// The class depends on the org alone: the fair tree fixes it
		// when it makes the account's leaf, and so does the account.
		a = &account{key: key, leaf: e.fair.Leaf(key), proj: e.project(key.Project),
			class: sched.ClassOf(e.cfg.FairShare.OrgKind[key.Org])}
		a.cls = e.classIndex(a.class)
		e.accounts[key] = a
		e.acctList = append(e.acctList, a)
	}
	return a
}

// classIndex returns class's index in e.classes, adding it if new.
func (e *Engine) classIndex(class string) int32 {
	if i := slices.Index(e.classNames, class); i >= 0 {
		return int32(i)
	}
	e.classNames = append(e.classNames, class)
	e.classes = append(e.classes, 0)
	return int32(len(e.classNames) - 1)
}

func (e *Engine) started(ev Started) {
	j := e.jobs.get(ev.ID)
	ok := j != nil
	if ok && j.State == core.StateStarting && j.placed && j.Alloc != nil && sameAllocation(j.Alloc, &ev.Alloc) {
		// The usual case: the shell carried out our Start as issued. The
		// placement, its charge and its start time already stand.
		j.State = core.StateRunning
		return
	}
	if !ok {
		j = e.newJob()
		j.setJob(&core.Job{ID: ev.ID, State: core.StateRunning})
		e.classify(j)
		j.req = sched.Request{Milli: ev.Alloc.Accelerators()}
		e.jobs.put(ev.ID, j)
	}
	pl, err := e.cluster.FromAllocation(ev.Alloc)
	if err != nil {
		j.ww().reason = err.Error()
	}
	if j.placed && (err != nil || !samePlacement(j.pl, pl)) {
		e.release(j, ev.At)
	}
	if j.State == core.StatePending {
		// Started by the site without a Start intent (or reloaded): it
		// leaves the queue.
		e.dropHold(j)
		e.tomb(j)
	}
	if j.start.IsZero() || !j.charged {
		j.start = ev.At
	}
	if !j.placed && err == nil {
		e.hold(j, pl, ev.At)
	}
	j.State = core.StateRunning
	e.dropBox(j)
	alloc := ev.Alloc
	j.Alloc = &alloc
}

// sameAllocation reports whether a and b name the same devices.
func sameAllocation(a, b *core.Allocation) bool {
	return a.Site == b.Site && a.Pool == b.Pool && slices.EqualFunc(a.Nodes, b.Nodes, func(x, y core.NodeAlloc) bool {
		return x.Node == y.Node && x.Milli == y.Milli && slices.Equal(x.Accels, y.Accels)
	})
}

func samePlacement(a, b sched.Placement) bool {
	return a.Pool == b.Pool && slices.EqualFunc(a.Nodes, b.Nodes, func(x, y sched.NodeShare) bool {
		return x.Node == y.Node && x.Mask == y.Mask && x.Milli == y.Milli
	}) && slices.EqualFunc(a.More, b.More, samePlacement)
}

// hold commits a placement for j and starts charging its use.
func (e *Engine) hold(j *job, pl sched.Placement, at time.Time) {
	j.wall = e.wallOn(j, pl.Pool)
	end := at.Add(j.wall).Unix()
	e.cluster.Commit(&pl, end)
	m := pl.Milli()
	if len(pl.Nodes) == 1 {
		// Most placements are one node: keep it in the record, which
		// release reads anyway, rather than in a slice elsewhere.
		j.one[0] = pl.Nodes[0]
		pl.Nodes = j.one[:1:1]
	}
	j.pl, j.placed, j.plMilli = pl, true, m
	if e.runTracked {
		e.run.add(j, end)
	}
	if e.ends != nil {
		now := at.Unix()
		if !e.now.IsZero() {
			now = max(now, e.now.Unix())
		}
		if pl.More == nil {
			j.endB, j.endIdx = e.ends.add(pl.Pool, end, m, now), true
			e.poolClass[pl.Pool][j.class] += m
		} else {
			// A gang across pools: each pool counts its own part.
			pl.Parts(func(part *sched.Placement) {
				pm := part.Milli()
				j.endB, j.endIdx = e.ends.add(part.Pool, end, pm, now), true
				e.poolClass[part.Pool][j.class] += pm
			})
		}
	}
	e.flush(j.acct, at)
	j.acct.running += m
	p := j.proj
	e.flushProject(p, at)
	p.running += m
	e.classes[j.cls] += m
	j.charged = true
	if j.Spec.Preemptible || j.Spec.Checkpointable && e.cfg.Preemption.Attained {
		e.preemptible[j.ID] = j
	}
}

// wallOn is the walltime j runs with once placed in pool pi: the one it
// gives, else, with SiteWalltimes, the default of the pool's site, which
// its driver will enforce (j may not have been confined to one site).
func (e *Engine) wallOn(j *job, pi int) time.Duration {
	if e.poolWall != nil && j.Spec.Walltime <= 0 {
		if w := e.poolWall[pi]; w > 0 {
			return w
		}
	}
	return j.wall
}

func (e *Engine) release(j *job, at time.Time) {
	if !j.placed {
		return
	}
	if at.IsZero() || at.Before(j.start) {
		at = e.now
		if j.start.After(at) {
			at = j.start
		}
	}
	m := j.plMilli
	if j.endIdx {
		if j.pl.More == nil {
			e.ends.remove(j.pl.Pool, j.endB, m)
			e.poolClass[j.pl.Pool][j.class] -= m
		} else {
			j.pl.Parts(func(part *sched.Placement) {
				pm := part.Milli()
				e.ends.remove(part.Pool, j.endB, pm)
				e.poolClass[part.Pool][j.class] -= pm
			})
		}
		j.endIdx = false
	}
	e.cluster.Release(&j.pl)
	if len(e.preemptible) > 0 {
		delete(e.preemptible, j.ID)
	}
	if e.runTracked {
		e.run.remove(j)
	}
	j.placed = false
	j.pl = sched.Placement{}
	if j.charged {
		e.flush(j.acct, at)
		j.acct.running -= m
		p := j.proj
		e.flushProject(p, at)
		p.running -= m
		e.classes[j.cls] -= m
		j.charged = false
	}
	if j.hold != nil && j.hold.kind == holdAdvance {
		j.hold = nil
	}
	// Capacity came back: placements that failed this pass may fit now.
	e.epoch++
}

func (e *Engine) classOf(j *job) string { return j.class }

func (e *Engine) project(name string) *project {
	p := e.projects[name]
	if p == nil {
		p = &project{}
		e.projects[name] = p
	}
	return p
}

// flush charges an account's running use up to at into the fair tree.
//
// When the order does not depend on the tree (FairShareWeight 0: fifo,
// the twin's most run policy) the only reader of the tree is a priority
// breakdown (Explain), so the use is accrued in the account, one decay
// instead of one per level of its path, and charged to the tree when a
// breakdown is asked for (flushAll). No decision depends on it; the
// fair-share rank a breakdown shows could differ only between users
// whose levels of fair share are equal to their last bits, as the sums
// are added in another order.
func (e *Engine) flush(a *account, at time.Time) {
	if at.IsZero() {
		return
	}
	n := e.stampOf(at)
	if a.last.set && n > a.last.ns && a.running > 0 {
		use := float64(a.running) / 1000 * time.Duration(n-a.last.ns).Seconds()
		if e.rankFair() {
			e.fair.ChargeLeaf(a.leaf, use, at)
		} else {
			e.fair.Accrue(&a.owed, use, at)
		}
	}
	if !a.last.set || n > a.last.ns {
		a.last = stamp{n, true}
	}
}

func (e *Engine) flushProject(p *project, at time.Time) {
	if at.IsZero() {
		return
	}
	n := e.stampOf(at)
	if p.last.set && n > p.last.ns && p.running > 0 {
		p.usedSec += float64(p.running) / 1000 * time.Duration(n-p.last.ns).Seconds()
	}
	if !p.last.set || n > p.last.ns {
		p.last = stamp{n, true}
	}
}

func (e *Engine) ended(id core.JobID, at time.Time, requeue bool) {
	j := e.jobs.get(id)
	if j == nil {
		return
	}
	e.release(j, at)
	if j.State == core.StatePending {
		if requeue {
			return
		}
		e.dropHold(j)
		e.dropBox(j)
		j.State = core.StateCancelled
		e.tomb(j)
		e.jobs.del(id)
		e.recycle(j)
		return
	}
	j.preempt = false
	if requeue {
		e.attain(j, at)
		e.dropBox(j)
		j.State = core.StatePending
		j.Alloc = nil
		j.start = time.Time{}
		e.unlink(j)
		if e.siteWall != nil && j.Spec.Walltime <= 0 {
			e.setSite(j, j.req.Site) // the walltime of where it ran no longer holds
		}
		e.fresh = append(e.fresh, j)
		return
	}
	j.State = core.StateCompleted
	e.jobs.del(id)
	e.dropBox(j)
	e.recycle(j)
}

// newJob returns a record, reused when one is free, whose engine state
// is zero; the caller sets its Job, all of it.
func (e *Engine) newJob() *job {
	if n := len(e.free); n > 0 {
		j := e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
		j.jobState = jobState{}
		return j
	}
	return &job{}
}

// recycle takes the record of a job that left the engine (out of the job
// table, released, out of fresh) for reuse: at once when nothing refers
// to it, otherwise once the order and the shape queues have dropped it.
func (e *Engine) recycle(j *job) {
	if j.placed || j.hold != nil {
		return // not expected; a record still in use is simply not reused
	}
	if j.inOrder || j.inShape {
		e.retired = append(e.retired, j)
		return
	}
	if len(e.free) < maxFree {
		e.free = append(e.free, j)
	}
}

// sweepRetired moves retired records that nothing refers to any more to
// the free list.
func (e *Engine) sweepRetired() {
	k := 0
	for _, j := range e.retired {
		if j.inOrder || j.inShape {
			e.retired[k] = j
			k++
		} else if len(e.free) < maxFree {
			e.free = append(e.free, j)
		}
	}
	clear(e.retired[k:])
	e.retired = e.retired[:k]
}

// unlink removes a job that left pending from the order and its shape,
// so that it can come back (requeue) as a new entry.
func (e *Engine) unlink(j *job) {
	if j.inOrder {
		if i := slices.Index(e.order, j); i >= 0 {
			e.order = slices.Delete(e.order, i, i+1)
			e.tombs--
		}
		j.inOrder = false
	}
	if j.inShape && j.shape != nil {
		if i := slices.Index(j.shape.q, j); i >= 0 {
			j.shape.q = slices.Delete(j.shape.q, i, i+1)
		}
	}
	j.inShape = false
}

// tomb notes that a job in the order left pending.
func (e *Engine) tomb(j *job) {
	if j.inOrder {
		e.tombs++
	}
	if i := slices.Index(e.fresh, j); i >= 0 {
		e.fresh = slices.Delete(e.fresh, i, i+1)
	}
}

func (e *Engine) dropHold(j *job) {
	h := j.hold
	if h == nil {
		return
	}
	j.hold = nil
	if h.kind == holdAdvance {
		return
	}
	e.freeHold(h)
}

func (e *Engine) freeHold(h *hold) {
	e.freeSpan(h)
	e.holdVer++
	h.hs.Release()
	if i := slices.Index(e.holds, h); i >= 0 {
		e.holds = slices.Delete(e.holds, i, i+1)
	}
	e.epoch++
}

// less orders jobs by priority, then id.
func less(a, b *job) int {
	if a.prio != b.prio {
		return cmp.Compare(b.prio, a.prio)
	}
	return cmp.Compare(a.ID, b.ID)
}

// reprioritise recomputes fair share and every pending job's priority,
// and rebuilds the order and the shape queues.
func (e *Engine) reprioritise(now time.Time) {
	// Running use is charged to the fair tree when a job ends; bringing
	// every account up to now matters only where the order depends on
	// the tree (and for Explain, which flushes for itself). Projects'
	// budgets need no flush: quotaBlock adds the running part.
	if e.rankFair() {
		e.flushAll(now)
		e.fair.Rank(now)
	}
	all := make([]*job, 0, len(e.order)-e.tombs+len(e.fresh))
	for _, j := range e.order {
		if j.State == core.StatePending {
			all = append(all, j)
		}
		j.inOrder = false
	}
	all = append(all, e.fresh...)
	e.fresh = e.fresh[:0]
	for _, j := range all {
		j.prio = e.prioValue(j, now)
	}
	slices.SortFunc(all, less)
	e.order, e.tombs = all, 0
	for i, j := range all {
		j.rank, j.inOrder = i, true
	}
	for _, s := range e.live {
		for _, j := range s.q {
			j.inShape = false
		}
		s.q = s.q[:0]
	}
	for _, j := range all {
		s := e.shapeOf(j)
		s.q = append(s.q, j)
		j.inShape = true
	}
	e.pruneShapes()
	// Reservations follow the new order.
	for _, h := range slices.Clone(e.holds) {
		if h.kind == holdBackfill {
			h.job.hold = nil
			e.freeHold(h)
		}
	}
	e.lastPrio, e.prioDone = now, true
}

func (e *Engine) priorityInput(j *job) sched.PriorityInput {
	f, rank, users := e.fair.LeafFactor(j.acct.leaf)
	in := sched.PriorityInput{
		ID: j.ID, Submit: j.SubmitTime, QoS: j.Spec.QoS, Milli: j.req.Milli,
		Account: j.acct.key, Total: e.total, FairShare: f, FSRank: rank, FSUsers: users,
	}
	e.lasInput(j, &in)
	return in
}

// flushAll charges every account's running use up to now, and what
// accounts owe, to the fair tree.
func (e *Engine) flushAll(now time.Time) {
	for _, a := range e.acctList {
		e.flush(a, now)
		if a.owed.Owes() {
			e.fair.Settle(a.leaf, &a.owed, now)
		}
	}
}

func (e *Engine) priority(j *job, now time.Time) sched.Breakdown {
	if !e.rankFair() {
		// Passes skip ranking when the weight is 0; the breakdown still
		// shows the user's place in fair-tree order.
		e.flushAll(now)
		if e.fair.Dirty() {
			e.fair.Rank(now)
		}
	}
	return e.cfg.Priority.Priority(e.priorityInput(j), now)
}

func (e *Engine) prioValue(j *job, now time.Time) float64 {
	if !e.rankFair() {
		// The fair-share term is 0 whatever the factor: skip the tree.
		in := sched.PriorityInput{ID: j.ID, Submit: j.SubmitTime, QoS: j.Spec.QoS, Milli: j.req.Milli, Account: j.acct.key, Total: e.total}
		e.lasInput(j, &in)
		return e.cfg.Priority.Value(&in, now)
	}
	in := e.priorityInput(j)
	return e.cfg.Priority.Value(&in, now)
}

// rankFair reports whether the order depends on the fair-share tree. When
// FairShareWeight is 0 (fifo, or age/QoS/size only) ranking the tree on
// every pass would cost O(accounts log accounts) for nothing; the tree is
// then ranked only when someone asks for a breakdown (Explain).
func (e *Engine) rankFair() bool {
	return e.cfg.Priority.FairShareWeight != 0 || e.cfg.Priority.ClassWeight != 0
}

// merge inserts new pending jobs into the order and their shapes.
func (e *Engine) merge(now time.Time) {
	if len(e.fresh) == 0 {
		return
	}
	// New jobs take the fair-share standing of the last recompute (every
	// PriorityInterval, as Slurm's PriorityCalcPeriod), not a ranking
	// redone for each pass's arrivals: with jobs ending every second, that
	// ranked the whole tree on nearly every pass. Only an account new
	// since then, which has no place in the order yet, makes a ranking.
	if e.rankFair() && e.fair.Grown() {
		e.fair.Rank(now)
	}
	for _, j := range e.fresh {
		j.prio = e.prioValue(j, now)
	}
	slices.SortFunc(e.fresh, less)
	// The order is rebuilt into the array the pass before left spare:
	// one pass a second for a month would otherwise allocate it anew
	// millions of times.
	merged := e.spareOrder[:0]
	if n := len(e.order) - e.tombs + len(e.fresh); cap(merged) < n {
		merged = make([]*job, 0, n+n/4)
	}
	i, k := 0, 0
	for i < len(e.order) || k < len(e.fresh) {
		var j *job
		if k >= len(e.fresh) || i < len(e.order) && less(e.order[i], e.fresh[k]) <= 0 {
			j = e.order[i]
			i++
			if j.State != core.StatePending {
				j.inOrder = false
				continue
			}
		} else {
			j = e.fresh[k]
			k++
			s := e.shapeOf(j)
			at, _ := slices.BinarySearchFunc(s.q, j, less)
			s.q = slices.Insert(s.q, at, j)
			j.inShape = true
		}
		j.rank, j.inOrder = len(merged), true
		merged = append(merged, j)
	}
	clear(e.order)
	e.order, e.spareOrder, e.tombs = merged, e.order[:0], 0
	e.fresh = e.fresh[:0]
}

func (e *Engine) shapeOf(j *job) *shape {
	if j.shape != nil && j.shape.live {
		return j.shape
	}
	r := &j.req
	gk := groupKey{milli: r.Milli, nodes: r.Nodes, perNode: r.PerNode, model: j.Spec.Model, site: r.Site,
		countries: strings.Join(r.Countries, ","), cpu: r.CPUsPerAccel, mem: r.MemMiBPerAccel, topo: r.Topology,
		nodeCPU: r.CPUs, nodeMem: r.MemMiB, memAll: r.MemAll, excl: r.Exclusive, constraint: r.Constraint}
	// Project and class split shapes only where a quota can tell their
	// jobs apart; fewer shapes make a pass cheaper.
	k := shapeKey{group: gk, wall: j.wall, tier: j.tier, resv: j.Spec.Reservation}
	q := &e.cfg.Quotas
	if _, ok := q.ProjectAccelerators[j.Project]; ok {
		k.project = j.Project
	} else if _, ok := q.ProjectBudgetHours[j.Project]; ok {
		k.project = j.Project
	}
	if _, ok := q.ClassAccelerators[e.classOf(j)]; ok {
		k.class = e.classOf(j)
	}
	if s := e.lastShape; s != nil && s.live && s.key == k {
		j.shape = s
		return s
	}
	s := e.shapes[k]
	switch {
	case s == nil:
		g := e.groups[gk]
		if g == nil {
			g = &group{req: *r}
			e.groups[gk] = g
		}
		s = &shape{key: k, grp: g, live: true}
		e.shapes[k] = s
		e.live = append(e.live, s)
	case !s.live:
		// A forgotten shape comes back as a new one would (its group is
		// the one e.groups holds for gk: groups are never forgotten).
		*s = shape{key: s.key, grp: s.grp, q: s.q[:0], live: true}
		e.deadShapes--
		e.live = append(e.live, s)
	}
	e.lastShape = s
	j.shape = s
	return s
}

// maxDeadShapes bounds the forgotten shapes kept for reuse.
const maxDeadShapes = 1024

// pruneShapes compacts queues and forgets empty shapes.
func (e *Engine) pruneShapes() {
	live := e.live[:0]
	for _, s := range e.live {
		q := s.q[:0]
		for _, j := range s.q {
			if j.State == core.StatePending && j.shape == s {
				q = append(q, j)
			} else {
				j.inShape = false
			}
		}
		clear(s.q[len(q):])
		s.q = q
		if len(q) > 0 {
			live = append(live, s)
		} else {
			s.live = false
			e.deadShapes++
			if cap(s.q) > 256 {
				s.q = nil // a queue that was long is not kept
			}
		}
	}
	clear(e.live[len(live):])
	e.live = live
	if e.deadShapes > maxDeadShapes {
		// Forget them for good: a job whose shape this was finds its
		// shape again by key (a new one).
		for k, s := range e.shapes {
			if !s.live {
				delete(e.shapes, k)
			}
		}
		e.deadShapes = 0
	}
}

// Step runs a scheduling pass at now and returns the intents to carry out
// and when the engine next wants a Step (zero: only on the next event).
func (e *Engine) Step(now time.Time) (intents []Intent, next time.Time) {
	e.now = now
	e.pass++
	e.intents = nil
	clear(e.starts)
	e.starts = e.starts[:0]
	e.advanceReservations(now)
	if !e.prioDone || now.Sub(e.lastPrio) >= e.cfg.PriorityInterval {
		e.reprioritise(now)
		e.estDue = true
	} else {
		e.merge(now)
	}
	if e.err == nil {
		e.schedule(now)
	}
	if e.tombs > len(e.order)/4 {
		e.compact()
	}
	if len(e.retired) > 0 {
		e.sweepRetired()
	}
	e.intentCap = min(max(len(e.intents), e.intentCap-e.intentCap/8), maxIntentCap)
	return e.intents, e.nextWake(now)
}

func (e *Engine) compact() {
	o := e.order[:0]
	for _, j := range e.order {
		if j.State == core.StatePending {
			j.rank = len(o)
			o = append(o, j)
		} else {
			j.inOrder = false
		}
	}
	clear(e.order[len(o):])
	e.order, e.tombs = o, 0
	e.pruneShapes()
}

func (e *Engine) nextWake(now time.Time) time.Time {
	var next time.Time
	soon := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if len(e.order)-e.tombs+len(e.fresh) > 0 && e.cfg.PriorityInterval > 0 {
		soon(e.lastPrio.Add(e.cfg.PriorityInterval))
	}
	for _, a := range e.resv {
		soon(a.Start)
		soon(a.End)
	}
	for _, h := range e.holds {
		if h.kind == holdPreempt {
			soon(h.at)
		}
	}
	return next
}

// shapeHeap orders shapes by their next job.
type shapeHeap []*shape

func (h shapeHeap) Len() int { return len(h) }
func (h shapeHeap) Less(a, b int) bool {
	return less(h[a].q[h[a].cur], h[b].q[h[b].cur]) < 0
}
func (h shapeHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a]; h[a].idx = a; h[b].idx = b }
func (h *shapeHeap) Push(x any)   { *h = append(*h, x.(*shape)) }
func (h *shapeHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

// advanceCursor moves s to its next pending job; false when none is left.
func (s *shape) advance() bool {
	for s.cur < len(s.q) && (s.q[s.cur].State != core.StatePending || s.q[s.cur].shape != s) {
		s.cur++
	}
	return s.cur < len(s.q)
}

// maxWalks bounds the walks of one pass (see schedule). Each walk after
// the first needs a hold given back during the one before, which a start
// or a preemption causes, so the bound is only a guard.
const maxWalks = 16

// schedule is one pass over the pending jobs in priority order.
//
// A hold given back during the walk (its job started on part of the
// nodes, or swapped an EASY reservation for preemption) returns room to
// ordinary placement after the jobs of higher priority were decided
// without it. Those jobs are walked again, up to where it happened, so
// that a job that fits starts in this pass: otherwise it would wait, with
// the accelerators idle, for the next event or re-prioritisation (a
// minute by default). A walk bounded so that frees a hold in turn is
// followed by a whole one, as the jobs past its bound did not see it.
func (e *Engine) schedule(now time.Time) {
	startedAny := false
	var bound *job // nil: walk every job
	for walk := 0; walk < maxWalks; walk++ {
		e.reopened, e.reopenAt = false, nil
		if e.walk(now, bound) {
			startedAny = true
		}
		if !e.reopened {
			break
		}
		if bound == nil {
			bound = e.reopenAt
		} else {
			bound = nil
		}
	}
	e.reopenAt = nil
	if startedAny {
		for _, s := range e.live {
			k := 0
			for k < len(s.q) && s.q[k].State != core.StatePending {
				s.q[k].inShape = false
				k++
			}
			if k > 0 {
				// Drop the references: the backing array outlives the
				// slice, and started jobs that end must not stay reachable.
				clear(s.q[:k])
				if k == len(s.q) {
					// Emptied (most shapes hold a job or two): keep the
					// array's front, or the next insert reallocates.
					s.q = s.q[:0]
				} else {
					s.q = s.q[k:]
				}
			}
		}
	}
}

// walk considers the live shapes' jobs in priority order once, those of
// higher priority than bound only when bound is set, and reports whether
// it started any.
func (e *Engine) walk(now time.Time, bound *job) (startedAny bool) {
	h := e.heap[:0] // reused: shapes outlive a pass (e.shapes holds them)
	for _, s := range e.live {
		s.cur = 0
		if bound == nil {
			// A walk up to a bound keeps what the whole one said of
			// the shapes past it (their quota reason).
			s.pass, s.dead, s.quota = e.pass, false, ""
		}
		if s.advance() {
			h = append(h, s)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		s := h[0]
		j := s.q[s.cur]
		if bound != nil && less(j, bound) >= 0 {
			break
		}
		ok, dead := e.consider(s, j, now)
		if ok {
			startedAny = true
		}
		s.cur++
		if dead || !s.advance() {
			heap.Pop(&h)
			continue
		}
		heap.Fix(&h, 0)
	}
	e.heap = h[:0]
	return startedAny
}

// consider decides one job: start it, backfill it, preempt for it, reserve
// for it, or leave it waiting. dead reports that no later job of the same
// shape can do better in this pass.
func (e *Engine) consider(s *shape, j *job, now time.Time) (started, dead bool) {
	j.seenPass = e.pass
	if j.w != nil {
		j.w.quota, j.w.resv = "", ""
	}
	g := s.grp
	if g.pools == nil {
		g.pools = e.cluster.Eligible(&g.req)
	}
	if q := e.quotaBlock(j); q != "" {
		j.ww().quota, s.quota = q, q
		return false, true
	}
	// Victims that never stopped (the shell lost them) must not keep the
	// nodes aside for ever: after twice the grace, the job queues again.
	if hd := j.hold; hd != nil && hd.kind == holdPreempt && now.After(hd.at.Add(2*e.grace())) {
		e.dropHold(j)
		e.reopen(j, hd)
	}
	// A job with a hold goes there first, unless its site was drained or
	// taken down since: site state wins over every hold (issue 17).
	if hd := j.hold; hd != nil && !e.poolActive(hd.pool) {
		e.dropHold(j)
	}
	if hd := j.hold; hd != nil {
		if pl, ok := e.placeOnHold(j, hd); ok {
			e.launch(j, pl, now)
			return true, false
		}
	}
	if a := e.named(j); a != nil {
		return e.inReservation(j, a, now)
	}
	if a := e.advanceFor(j, now); a != nil && e.poolActive(a.h.pool) {
		if pl, ok := e.cluster.PlaceOn(&j.req, a.h.hs); ok {
			e.launch(j, pl, now)
			return true, false
		}
	}
	if g.failPass != e.pass || g.failEpoch != e.epoch {
		pl, miss := e.cluster.PlaceInto(&j.req, g.pools, &j.one)
		if miss.Code == sched.MissNone {
			e.launch(j, pl, now)
			return true, false
		}
		g.miss = miss
		g.failPass, g.failEpoch = e.pass, e.epoch
	}
	j.ww().miss, s.miss = g.miss, g.miss
	if g.miss.Code == sched.MissNoPool || g.miss.Code == sched.MissNever {
		return false, true
	}
	if e.backfill(j, g, now) {
		return true, false
	}
	if e.preemptFor(j, g, now) {
		return false, false
	}
	if j.hold != nil {
		return false, false
	}
	if e.reservations() < e.cfg.BackfillDepth && e.reserveFor(j, g, now) {
		return false, false
	}
	return false, true
}

// reservations counts the EASY reservations held now.
func (e *Engine) reservations() int {
	n := 0
	for _, h := range e.holds {
		if h.kind == holdBackfill && !h.part {
			n++
		}
	}
	return n
}

// backfill starts j on nodes held for others if that delays none of
// them: j ends before the holder starts, or, on an EASY reservation's
// nodes, the holder still fits them at its start with j running (it
// counts on devices, not whole nodes: see sched.HoldSet.FitsAt).
// Preemption holds and advance reservations take only jobs that end in
// time: the first start when their victims stop, not when these were
// planned to end; the second hold whole nodes for jobs not known yet.
func (e *Engine) backfill(j *job, g *group, now time.Time) bool {
	if len(e.holds) == 0 && len(e.resv) == 0 {
		return false
	}
	// A job of the same request found no room on any hold in this pass,
	// and no hold was made or freed since: the holds were tried, and
	// either gave it no room now (PlaceOn), which still holds, or took no
	// job past their time, whatever the walltime. A job that ends no
	// sooner gains nothing; a shorter one only on holds it ends in time for.
	tried := g.holdPass == e.pass && g.holdVer == e.holdVer
	if tried && j.wall >= g.holdFail {
		return false
	}
	end := now.Add(j.wall)
	try := func(h *hold) bool {
		if h == j.hold || h.hs.Full() {
			return false
		}
		if e.poolWall != nil {
			end = now.Add(e.wallOn(j, h.pool))
		}
		// Most tries end here, so the cheap tests come first.
		past := end.After(h.at)
		if past && (tried || !h.shared) || !slices.Contains(g.pools, h.pool) {
			return false
		}
		pl, ok := e.cluster.PlaceOn(&j.req, h.hs)
		if !ok || past && !h.hs.FitsAt(&h.job.req, h.at.Unix(), &pl, upSec(end)) {
			return false
		}
		e.launch(j, pl, now)
		return true
	}
	for _, h := range e.holds {
		if try(h) {
			return true
		}
	}
	for _, a := range e.resv {
		if a.h != nil && !a.active && try(a.h) {
			return true
		}
	}
	if !tried || j.wall < g.holdFail {
		g.holdPass, g.holdVer, g.holdFail = e.pass, e.holdVer, j.wall
	}
	return false
}

// upSec is t in Unix seconds, rounded up: a job that ends a fraction of a
// second after a hold's time still runs then.
func upSec(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

// reserveFor gives a blocked job an EASY reservation: the nodes it will
// use at the earliest time it can start, set aside so that nothing
// started later delays it.
func (e *Engine) reserveFor(j *job, g *group, now time.Time) bool {
	ea, ok := e.cluster.EarliestStart(&j.req, g.pools, now.Unix())
	if !ok {
		return false
	}
	h := &hold{kind: holdBackfill, job: j, pool: ea.Pool, nodes: ea.Nodes, at: time.Unix(ea.At, 0).UTC()}
	e.setAside(h)
	h.shared = h.hs.Spare(&j.req)
	e.setAsideSpan(h, ea.More)
	j.hold = h
	j.ww().est = h.at
	return true
}

func (e *Engine) setAside(h *hold) {
	e.holdVer++
	h.hs = e.cluster.NewHold(h.pool, h.nodes)
	h.nodes = slices.Clone(h.hs.Nodes)
	e.holds = append(e.holds, h)
}

// reopen notes, during a pass, that hold h of job j was given back: if
// its nodes have room left, jobs decided before j did not see it.
func (e *Engine) reopen(j *job, h *hold) {
	for _, part := range h.span {
		e.reopen(j, part)
	}
	p := e.cluster.Pools[h.pool]
	for _, n := range h.nodes {
		// A shared device may have room for a fraction with none free.
		if p.NodeFreeDevices(int(n)) > 0 || p.NodeShared(int(n)) {
			e.reopened, e.reopenAt = true, j
			return
		}
	}
}

// launch commits j's placement and emits its Start.
func (e *Engine) launch(j *job, pl sched.Placement, now time.Time) {
	if e.onLaunch != nil {
		e.onLaunch(j)
	}
	held := j.hold
	e.dropHold(j)
	e.hold(j, pl, now)
	if held != nil && held.kind != holdAdvance {
		e.reopen(j, held)
	}
	j.State = core.StateStarting
	j.start = now
	if j.w != nil {
		j.w.miss, j.w.quota = sched.Miss{}, ""
	}
	if j.inOrder {
		e.tombs++
	}
	e.dropBox(j)
	if e.reuseAllocs {
		j.box = e.cluster.Box(&pl)
	}
	if j.box != nil {
		j.Alloc = j.box.Allocation()
	} else {
		j.Alloc = e.cluster.AllocationPtr(&pl)
	}
	if e.splitStarts {
		e.starts = append(e.starts, Start{ID: j.ID, Alloc: *j.Alloc})
		return
	}
	if e.intents == nil {
		e.intents = make([]Intent, 0, max(e.intentCap, 4))
	}
	e.intents = append(e.intents, Start{ID: j.ID, Alloc: *j.Alloc})
}

// ReuseAllocations makes the engine reuse the memory of a job's
// allocation once the job ends or is requeued: the caller promises to
// keep no allocation the engine handed out (in a Start, or a Status) past
// that. A replay of millions of jobs saves an allocation per job. Call it
// before the first Step.
func (e *Engine) ReuseAllocations() { e.reuseAllocs = true }

// dropBox hands j's allocation box back for reuse.
func (e *Engine) dropBox(j *job) {
	if j.box != nil {
		e.cluster.FreeBox(j.box)
		j.box, j.Alloc = nil, nil
	}
}

// SplitStarts makes Step leave its Start intents out of the intents it
// returns and keep them, in the same order, for Starts. An Intent holds a
// Start boxed, one allocation per start, which a replay of millions of
// jobs feels; a caller that takes the starts apart avoids it. Call it
// before the first Step.
func (e *Engine) SplitStarts() { e.splitStarts = true }

// Starts returns the Start intents of the last Step, after SplitStarts.
// The slice is the engine's: it is valid until the next Step.
func (e *Engine) Starts() []Start { return e.starts }

// maxIntentCap bounds the room made for a pass's intents: a burst of
// starts leaves later passes a slice of at most this size.
const maxIntentCap = 1024
