package engine

import (
	"math"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// This file puts the federation broker (internal/broker) in front of the
// engine. A Federation is an Engine whose pending jobs without a site pin
// are first routed to one site by the broker, then placed within that site
// only. It re-routes pending jobs whose site drains or goes down, or whose
// estimated start slips too far, and asks the shell to requeue the jobs
// running on a site that went down.
//
// It wraps the Engine rather than living inside it so that the broker can
// be wired without touching the placement loop; Status, Pending, Explain
// and Cluster are the Engine's. It reads the engine's queues but never
// edits them: a decision moves a job through Engine.moveTo (reroute.go).

// Routing configures the federation broker in front of the engine.
type Routing struct {
	// Broker configures the decision: weights, dataset registry, which
	// site kinds take which access mode.
	Broker broker.Config
	// WinnerOnly keeps only the winner's verdict of a route (Route then
	// lists one site; when no site can take the job, all of them, for its
	// reason): the other sites' verdicts are what explain shows, they take
	// most of a decision's time to build (broker.DecideWinner skips them)
	// and weigh several KB per job, a gigabyte for the 160,000 jobs running
	// on the EU network. The digital twin, which never explains, sets it.
	WinnerOnly bool
	// MaxSlip bounds how far a pending job's estimated start may move
	// past the estimate it was routed on before the broker decides again
	// (it may pick the same site). 0 = never re-route on slip.
	MaxSlip time.Duration
	// SlipEvery is how often pending jobs are checked for slip: the check
	// needs every pending job's estimated start, a simulation of the
	// whole queue, so it is not made on every pass. 0 = on every pass.
	SlipEvery time.Duration
}

// LiveRouting is the routing `gf serve` runs, and so the digital twin's
// by default: re-route a pending job when its estimated start slips by
// more than two hours, checked every ten minutes (a twelfth of the slip).
func LiveRouting() Routing { return Routing{MaxSlip: 2 * time.Hour, SlipEvery: 10 * time.Minute} }

// Requeue asks the shell to take back a job that was running (or
// starting) on a site that went down: stop it if the site still answers,
// then apply Ended{Requeue: true}; the job returns to pending and the
// broker routes it to another site. Until Ended arrives the engine still
// counts the job as active, so it is never started twice. A checkpointable
// job resumes from its last checkpoint reference (FromCheckpoint).
type Requeue struct {
	ID             core.JobID
	Site           string
	Reason         string
	FromCheckpoint bool
}

func (Requeue) isIntent() {}

// Route is the broker's decision for a job, kept for explain.
type Route struct {
	broker.Decision
	// At is when the decision was taken; EstimatedStart is the start it
	// expected at the winner.
	At             time.Time  `json:"at"`
	EstimatedStart *time.Time `json:"estimated_start,omitempty"`
	// Moves counts how often the job was re-routed, Why says why the
	// latest decision was taken: "submitted", "site drained", "site down",
	// "estimated start slipped", "requeued".
	Moves int    `json:"moves"`
	Why   string `json:"why"`
}

// Federation is an Engine with the federation broker in front of it.
// Like the Engine it is not safe for concurrent use.
type Federation struct {
	*Engine
	rcfg    Routing
	b       *broker.Broker
	routes  map[core.JobID]*routed
	states  map[string]string // site states the router last acted on
	requeue map[core.JobID]bool
	dirty   bool      // a site changed state since the last Step
	slipAt  time.Time // when pending jobs were last checked for slip
	pic     picture
	memos   map[memoKey]*broker.Memo // this routing pass's, by job shape
	spare   []*broker.Memo
	counted map[core.JobID]demand // pending jobs whose demand the picture counts
	est     estimator
}

type routed struct {
	Route
	site     string
	baseline time.Time // estimated start the route was taken on
	again    bool      // the job was requeued: decide again
}

// noSite pins a job the broker found no site for: it matches no pool, so
// the engine leaves the job waiting; Status gives the broker's reason.
const noSite = "\x00no-eligible-site"

// NewFederation returns an engine over sites with the broker in front.
func NewFederation(cfg Config, r Routing, sites []core.Site) *Federation {
	f := &Federation{
		Engine: New(cfg, sites), rcfg: r, b: broker.New(r.Broker, sites),
		routes: map[core.JobID]*routed{}, states: map[string]string{}, requeue: map[core.JobID]bool{},
	}
	for _, s := range sites {
		f.states[s.ID] = state(s.State)
	}
	f.Engine.trackPools()
	f.Engine.onLaunch = f.launched
	f.counted = map[core.JobID]demand{}
	f.pic.layout(f)
	return f
}

func state(s string) string {
	if s == "" {
		return core.SiteActive
	}
	return s
}

// Broker exposes the broker, read-only by convention, for reports.
func (f *Federation) Broker() *broker.Broker { return f.b }

// Route returns the broker's latest decision for job id: the winner and
// every site's verdict. ok is false for a job the broker did not route
// (pinned to a site, or unknown).
func (f *Federation) Route(id core.JobID) (Route, bool) {
	r, ok := f.routes[id]
	if !ok {
		return Route{}, false
	}
	return r.Route, true
}

// Apply feeds one event into the engine, keeping the broker's view of
// site states current.
func (f *Federation) Apply(ev Event) {
	switch ev := ev.(type) {
	case SiteChanged:
		if f.b.SetState(ev.Site, state(ev.State)) {
			f.dirty = true
		}
	case Ended:
		f.uncount(ev.ID)
		f.ended(ev.ID, ev.Requeue)
	case *Ended:
		f.uncount(ev.ID)
		f.ended(ev.ID, ev.Requeue)
	case Cancelled:
		f.uncount(ev.ID)
		delete(f.requeue, ev.ID)
		f.forget(ev.ID)
	case Started:
		f.uncount(ev.ID)
	case *Started:
		f.uncount(ev.ID)
	}
	f.Engine.Apply(ev)
	if _, ok := ev.(OrgKindSet); ok {
		f.reclass()
	}
}

func (f *Federation) ended(id core.JobID, requeue bool) {
	delete(f.requeue, id)
	if !requeue {
		f.forget(id)
	} else if j := f.Engine.jobs.get(id); j != nil && j.State.Active() {
		if r := f.routes[id]; r != nil {
			r.again = true
		}
	}
}

// forget drops a finished job's route once the engine has let go of it.
func (f *Federation) forget(id core.JobID) { delete(f.routes, id) }

// Status is the engine's status, with the broker's reason first for a
// job no site can take.
func (f *Federation) Status(id core.JobID) (Status, bool) {
	st, ok := f.Engine.Status(id)
	if r, routed := f.routes[id]; ok && routed && r.Winner == "" && st.State == core.StatePending {
		st.Reason = r.Decision.Reason
		st.Reasons = []string{r.Decision.Reason}
		st.EstimatedStart = nil
	}
	return st, ok
}

// Step routes what needs routing, then runs the engine's pass. Requeue
// intents for jobs on a site that went down come first.
func (f *Federation) Step(now time.Time) ([]Intent, time.Time) {
	e := f.Engine
	e.now = now
	var out []Intent
	changed := f.dirty
	if changed {
		f.dirty = false
		out = f.siteEvents(now)
	}
	f.route(now, changed)
	in, next := e.Step(now)
	if len(out) == 0 {
		return in, next
	}
	return append(out, in...), next
}

// siteEvents acts on site state changes: Requeue for jobs active on a
// site that went down.
func (f *Federation) siteEvents(now time.Time) []Intent {
	var down []string
	for _, s := range f.b.Sites() {
		st := state(s.State)
		if f.states[s.ID] != st && st == core.SiteDown {
			down = append(down, s.ID)
		}
		f.states[s.ID] = st
	}
	if len(down) == 0 {
		return nil
	}
	var ids []core.JobID
	f.Engine.jobs.each(func(id core.JobID, j *job) {
		if j.State.Active() && j.Alloc != nil && slices.Contains(down, j.Alloc.Site) && !f.requeue[id] {
			ids = append(ids, id)
		}
	})
	slices.Sort(ids)
	out := make([]Intent, 0, len(ids))
	for _, id := range ids {
		j := f.Engine.jobs.get(id)
		f.requeue[id] = true
		out = append(out, Requeue{ID: id, Site: j.Alloc.Site, Reason: "site " + j.Alloc.Site + " is down", FromCheckpoint: j.Spec.Checkpointable})
	}
	return out
}

// route decides for new and requeued jobs, and re-decides for pending
// jobs whose site no longer takes new work or whose start slipped.
func (f *Federation) route(now time.Time, changed bool) {
	e := f.Engine
	type move struct {
		j   *job
		why string
	}
	var todo []move
	f.pic.refresh(f, now)
	for _, j := range e.fresh {
		if j.State != core.StatePending {
			continue
		}
		if j.Spec.Site != "" {
			f.pinned(j, now)
			continue
		}
		r := f.routes[j.ID]
		switch {
		case r == nil:
			todo = append(todo, move{j, "submitted"})
		case f.b.State(r.site) != core.SiteActive && r.site != noSite:
			todo = append(todo, move{j, "site " + f.b.State(r.site)})
		case r.again:
			todo = append(todo, move{j, "requeued"})
		case changed && r.site == noSite:
			todo = append(todo, move{j, "sites changed"})
		default:
			e.setSite(j, r.site) // classify (resubmit, requeue) resets the request
			if c, ok := f.counted[j.ID]; !ok || f.b.Sites()[c.site].ID != r.site {
				f.count(j, r.site)
			}
		}
	}
	slip := f.rcfg.MaxSlip > 0 && (f.slipAt.IsZero() || now.Sub(f.slipAt) >= f.rcfg.SlipEvery)
	if slip {
		f.slipAt = now
		// Only a job routed at least MaxSlip ago may have slipped: when
		// none waits, the estimates (a simulation of the whole queue over
		// every running job's end) would decide nothing.
		if slip = f.routedBefore(now.Add(-f.rcfg.MaxSlip)); slip {
			e.ensureEstimates()
		}
	}
	for _, j := range e.order {
		if !changed && !slip {
			break // every job in the order was routed when it was fresh
		}
		if j.State != core.StatePending || j.Spec.Site != "" {
			continue
		}
		r := f.routes[j.ID]
		switch {
		case r == nil:
			todo = append(todo, move{j, "submitted"})
		case changed && f.b.State(r.site) != core.SiteActive && r.site != noSite:
			todo = append(todo, move{j, "site " + f.b.State(r.site)})
		case changed && r.Winner == "":
			todo = append(todo, move{j, "sites changed"})
		case slip && !j.wt().est.IsZero() && j.wt().est.After(r.baseline.Add(f.rcfg.MaxSlip)) && now.Sub(r.At) >= f.rcfg.MaxSlip:
			todo = append(todo, move{j, "estimated start slipped"})
		}
	}
	if len(todo) == 0 {
		return
	}
	// Jobs about to be decided again do not count against their own site.
	for _, m := range todo {
		f.uncount(m.j.ID)
	}
	f.newPass()
	for _, m := range todo {
		f.decide(m.j, m.why, now)
	}
}

// routedBefore reports whether a pending job in the order was routed by
// the broker at or before t.
func (f *Federation) routedBefore(t time.Time) bool {
	for _, j := range f.Engine.order {
		if j.State != core.StatePending || j.Spec.Site != "" {
			continue
		}
		if r := f.routes[j.ID]; r != nil && r.site != noSite && !r.At.After(t) {
			return true
		}
	}
	return false
}

// decide asks the broker about j and moves it to the winner.
func (f *Federation) decide(j *job, why string, now time.Time) {
	est := &f.est // reused: as an interface value it would escape, once per decision
	*est = estimator{p: &f.pic, need: need(&j.Spec), model: j.Spec.Model, class: classIndex(f.classOf(j)), spec: &j.Spec, wall: j.wall}
	var d broker.Decision
	if f.rcfg.WinnerOnly {
		d = f.b.DecideWinnerMemo(&j.Job, est, f.memoFor(j, est.class))
	} else {
		d = f.b.Decide(&j.Job, est)
	}
	old := f.routes[j.ID]
	r := &routed{Route: Route{Decision: d, At: now, Why: why}}
	if old != nil {
		r.Moves = old.Moves
	}
	r.site = noSite
	if d.Winner != "" {
		i, _ := f.b.Index(d.Winner)
		at := now.Add(est.Wait(i))
		r.site, r.baseline, r.EstimatedStart = d.Winner, at, &at
	}
	if old != nil && old.site != r.site {
		r.Moves++
	}
	f.routes[j.ID] = r
	f.Engine.moveTo(j, r.site)
	if d.Winner != "" {
		f.count(j, d.Winner)
	}
}

// memoKey is a job's shape for the broker (broker.KeyOf) and for the
// router's estimator (its class and planned walltime): jobs with equal
// keys get equal decisions from equal pictures.
type memoKey struct {
	broker.ShapeKey
	class int
	wall  time.Duration
}

// memoFor is the broker's memo for j's shape in this routing pass.
// Memos live for one pass: the picture is rebuilt at the next.
func (f *Federation) memoFor(j *job, class int) *broker.Memo {
	k := memoKey{broker.KeyOf(&j.Spec), class, j.wall}
	if m := f.memos[k]; m != nil {
		return m
	}
	if f.memos == nil {
		f.memos = map[memoKey]*broker.Memo{}
	}
	var m *broker.Memo
	if len(f.spare) > 0 {
		m, f.spare = f.spare[len(f.spare)-1], f.spare[:len(f.spare)-1]
	} else {
		m = &broker.Memo{}
	}
	m.Reset()
	f.memos[k] = m
	return m
}

// newPass drops the memos of the last routing pass, keeping their memory.
func (f *Federation) newPass() {
	for k, m := range f.memos {
		f.spare = append(f.spare, m)
		delete(f.memos, k)
	}
}

// pinned checks a job pinned to a site, which the broker does not route,
// against the site's maximum walltime: over it, the job waits with the
// reason (like Slurm's PartitionTimeLimit) instead of being placed there.
func (f *Federation) pinned(j *job, now time.Time) {
	r := f.b.WalltimeReason(j.Spec.Site, &j.Spec)
	if r == "" {
		if old := f.routes[j.ID]; old != nil && old.site == noSite {
			delete(f.routes, j.ID) // its spec changed (a resubmission)
		}
		f.count(j, j.Spec.Site)
		return
	}
	f.uncount(j.ID)
	f.routes[j.ID] = &routed{Route: Route{Decision: broker.Decision{Reason: r}, At: now, Why: "submitted"}, site: noSite}
	f.Engine.moveTo(j, noSite)
}

func (f *Federation) classOf(j *job) string {
	return sched.ClassOf(f.Engine.cfg.FairShare.OrgKind[j.Org])
}

func need(sp *core.JobSpec) core.Milli {
	if sp.Accelerators <= 0 {
		return 1000
	}
	return sp.Accelerators
}

// picture is the router's coarse view of capacity over time: per pool the
// free accelerators and when running jobs end (read each pass, refresh),
// the demand routed there and still pending (kept as jobs come and go,
// count/uncount); per site the accelerators each org class holds or
// waits for.
type picture struct {
	now    int64
	wall   int64        // default walltime, seconds, for extrapolating
	free   []core.Milli // per pool
	queued []core.Milli // per pool: demand routed there and still pending
	work   []int64      // per pool: queued accelerator-seconds (milli x s)
	total  []core.Milli // per pool
	model  []string     // per pool
	idx    *endIndex    // per pool: when running jobs end (the engine's)
	perK   []int        // per pool: devices per node
	multi  []int        // per pool: pending one-node jobs of several devices routed there
	// queued, work, multi and pend are kept as jobs are routed and leave
	// the queue (count, uncount); the rest is read afresh on each pass.
	cl *sched.Cluster
	// nodeAt caches, per pool and device count, when a node is expected
	// to have that many devices free (sched.EarliestStart walks the
	// pool's blocks): kept across passes for nodeTTL of virtual time.
	nodeAt map[int]nodeTime
	sites  [][]int                // per broker site index: pool indices
	ver    []uint64               // per broker site index: bumped when its estimates may change
	class  [][nClasses]core.Milli // per site: what each org class holds there
	pend   [][nClasses]core.Milli // per site: what each org class waits for there
	shares [nClasses]float64      // normalised class shares, by classIndex
}

type nodeTime struct{ at, computed int64 }

// nodeTTL bounds how stale a cached node time may be, in seconds.
const nodeTTL = 300

// nodeWait is how long, in seconds, until some node of pool pi has d
// devices free, by the running jobs' walltimes.
func (p *picture) nodeWait(pi, d int) int64 {
	if p.nodeAt == nil {
		p.nodeAt = map[int]nodeTime{}
	}
	key := pi<<8 | d
	if c, ok := p.nodeAt[key]; ok && p.now-c.computed < nodeTTL {
		return max(c.at-p.now, 0)
	}
	// No node has d devices free now (the caller checked), so an answer
	// of now means jobs past their walltime, whose end is unknown: then,
	// as when nothing is known, a default walltime from now.
	at := p.now + p.wall
	r := sched.Request{Milli: core.Milli(d) * 1000, Nodes: 1}
	if e, ok := p.cl.EarliestStart(&r, []int{pi}, p.now); ok && e.At > p.now {
		at = e.At
	}
	p.nodeAt[key] = nodeTime{at, p.now}
	return max(at-p.now, 0)
}

// refresh reads what changes from pass to pass without the router: the
// pools' free accelerators, what each org class holds per site (kept by
// the engine as jobs are placed and released, trackPools), when the
// pools' running jobs end.
func (p *picture) refresh(f *Federation, now time.Time) {
	e := f.Engine
	p.now, p.wall = now.Unix(), int64(e.cfg.walltime()/time.Second)
	for i, pl := range e.cluster.Pools {
		p.free[i] = core.Milli(pl.Free()) * 1000
		p.total[i] = core.Milli(pl.Total()) * 1000
	}
	p.idx = e.ends
	for si := range p.sites {
		p.class[si] = [nClasses]core.Milli{}
		for _, pi := range p.sites[si] {
			for c, m := range e.poolClass[pi] {
				if m != 0 {
					p.class[si][classIndex(c)] += m
				}
			}
		}
		p.ver[si]++
	}
}

// The org classes, indexed for the picture's per-site sums.
const nClasses = 4

var classNames = [nClasses]string{sched.ClassResearch, sched.ClassSME, sched.ClassIndustry, sched.ClassPublic}

// classIndex is class's index in classNames (sched.ClassOf gives one of them).
func classIndex(class string) int {
	for i, c := range classNames {
		if c == class {
			return i
		}
	}
	return 0
}

// demand is what a pending job adds to the picture, as counted.
type demand struct {
	site, pool int // broker site index; pool index, -1 for none
	need       core.Milli
	work       int64
	multi      bool
	class      int // classIndex
}

// count adds pending job j's demand to site's picture, attributed to the
// pool of that site that would start it soonest now (replacing what it
// counted before). It stays counted there until it leaves the queue or is
// decided again.
func (f *Federation) count(j *job, site string) {
	f.uncount(j.ID)
	si, ok := f.b.Index(site)
	if !ok {
		return
	}
	p := &f.pic
	d := demand{site: si, pool: p.poolFor(si, j.Spec.Model, &j.Spec), need: need(&j.Spec), class: classIndex(f.classOf(j))}
	d.work = int64(d.need) * int64(j.wall/time.Second)
	if d.pool >= 0 {
		d.multi = p.oneNode(d.pool, &j.Spec) > 1
	}
	p.apply(d, 1)
	f.counted[j.ID] = d
}

// uncount takes job id's demand out of the picture, if counted.
func (f *Federation) uncount(id core.JobID) {
	if d, ok := f.counted[id]; ok {
		f.pic.apply(d, -1)
		delete(f.counted, id)
	}
}

// launched is the engine's word that pending job j was placed.
func (f *Federation) launched(j *job) { f.uncount(j.ID) }

// reclass counts the pending jobs of orgs whose kind changed under their
// new class.
func (f *Federation) reclass() {
	for id, d := range f.counted {
		j := f.Engine.jobs.get(id)
		if j == nil {
			continue
		}
		if c := classIndex(f.classOf(j)); c != d.class {
			f.pic.apply(d, -1)
			d.class = c
			f.pic.apply(d, 1)
			f.counted[id] = d
		}
	}
}

func (p *picture) apply(d demand, sign int) {
	if d.pool >= 0 {
		p.queued[d.pool] += core.Milli(sign) * d.need
		p.work[d.pool] += int64(sign) * d.work
		if d.multi {
			p.multi[d.pool] += sign
		}
	}
	p.pend[d.site][d.class] += core.Milli(sign) * d.need
	p.ver[d.site]++
}

// layout sets what a picture keeps from one pass to the next: the per-pool
// slices, the pools of each broker site (the broker's sites are fixed
// when the federation is made), and the classes' normalised shares.
func (p *picture) layout(f *Federation) {
	cl := f.Engine.cluster
	n := len(cl.Pools)
	p.free, p.queued, p.total = make([]core.Milli, n), make([]core.Milli, n), make([]core.Milli, n)
	p.work = make([]int64, n)
	p.model = make([]string, n)
	p.perK, p.multi, p.cl = make([]int, n), make([]int, n), cl
	for i, pl := range cl.Pools {
		p.model[i] = pl.Model
		p.perK[i] = pl.K
	}
	sites := f.b.Sites()
	p.sites = make([][]int, len(sites))
	p.ver = make([]uint64, len(sites))
	p.class = make([][nClasses]core.Milli, len(sites))
	p.pend = make([][nClasses]core.Milli, len(sites))
	for i, s := range sites {
		p.sites[i] = []int{}
		for _, pl := range cl.Pools {
			if pl.Site.ID == s.ID {
				p.sites[i] = append(p.sites[i], pl.Index)
			}
		}
	}
	cs := f.Engine.cfg.FairShare.ClassShares
	var sum float64
	for c, name := range classNames {
		v, ok := cs[name]
		if !ok || v < 0 {
			v = 1
		}
		p.shares[c] = v
		sum += v
	}
	for c := range p.shares {
		if sum > 0 {
			p.shares[c] /= sum
		}
	}
}

// poolFor is the first pool of site si with model that could hold the job.
func (p *picture) poolFor(si int, model string, sp *core.JobSpec) int {
	best, bestWait := -1, int64(-1)
	for _, pi := range p.sites[si] {
		if !p.fits(pi, model, sp) {
			continue
		}
		w := p.poolWait(pi, sp)
		if best < 0 || w < bestWait {
			best, bestWait = pi, w
		}
	}
	return best
}

var _ broker.VersionedEstimator = (*estimator)(nil)

// fits reports whether pool pi has model and is large enough for the job.
func (p *picture) fits(pi int, model string, sp *core.JobSpec) bool {
	return p.total[pi] >= need(sp) && modelMatch(model, p.model[pi])
}

func modelMatch(want, m string) bool {
	if want == "" {
		return true
	}
	for want != "" {
		i := 0
		for i < len(want) && want[i] != '|' {
			i++
		}
		if want[:i] == m {
			return true
		}
		if i == len(want) {
			break
		}
		want = want[i+1:]
	}
	return false
}

// oneNode is how many devices of one node of pool pi the job needs when
// it must fit on a single node there, else 0.
func (p *picture) oneNode(pi int, sp *core.JobSpec) int {
	m := need(sp)
	if sp.Nodes > 1 || m <= 1000 || m > core.Milli(p.perK[pi])*1000 {
		return 0
	}
	return int((m + 999) / 1000)
}

// poolWait is how long, in seconds, until pool pi can start the job:
// when it has the job's accelerators free after the demand already routed
// there (FIFO drain over running jobs' expected ends, extrapolated by the
// default walltime past them). A job that needs several devices of one
// node also needs such a node: when none is free beyond those other such
// jobs already routed there took, the pool's freed devices cannot be
// assumed to come together on one node (a busy site frees them one at a
// time, and single-device jobs take them), so the wait is at least the
// time by which the running jobs' walltimes free d devices of one node.
func (p *picture) poolWait(pi int, sp *core.JobSpec) int64 {
	w := p.drainWait(pi, need(sp))
	if d := p.oneNode(pi, sp); d > 1 && p.cl.Pools[pi].NodesWithFree(d) <= p.multi[pi] {
		w = max(w, p.nodeWait(pi, d))
	}
	return w
}

// drainWait is how long, in seconds, until pool pi has need accelerators
// free after the demand already routed there: FIFO drain over running
// jobs' expected ends, extrapolated by the default walltime past them.
func (p *picture) drainWait(pi int, need core.Milli) int64 {
	deficit := p.queued[pi] + need - p.free[pi]
	if deficit <= 0 {
		return 0
	}
	at, ok, freed, last := p.idx.when(pi, deficit, p.now)
	if ok {
		return max(at-p.now, 0)
	}
	// Past the last known end, the pool works through the rest of the
	// queue at full width, each job taking the queue's mean walltime.
	wall := float64(p.wall)
	if p.queued[pi] > 0 {
		wall = float64(p.work[pi]) / float64(p.queued[pi])
	}
	rounds := 1.0
	if p.total[pi] > 0 {
		rounds = math.Ceil(float64(deficit-freed) / float64(p.total[pi]))
	}
	return last - p.now + int64(rounds*wall)
}

// estimator answers the broker for one job from the picture.
type estimator struct {
	p     *picture
	need  core.Milli
	model string
	class int // classIndex
	spec  *core.JobSpec
	wall  time.Duration
}

func (x *estimator) Wait(i int) time.Duration {
	best := int64(-1)
	for _, pi := range x.p.sites[i] {
		if !x.p.fits(pi, x.model, x.spec) {
			continue
		}
		if w := x.p.poolWait(pi, x.spec); best < 0 || w < best {
			best = w
		}
	}
	if best < 0 {
		return 0
	}
	return time.Duration(best) * time.Second
}

// Version changes whenever Wait(i) or Headroom(i) may: when a job's
// demand is counted at site i or taken out (count, uncount) and when the
// pass reads the sites afresh (refresh). Memos live for one pass.
func (x *estimator) Version(i int) uint64 { return x.p.ver[i] }

func (x *estimator) Headroom(i int) float64 {
	var total core.Milli
	for _, pi := range x.p.sites[i] {
		total += x.p.total[pi]
	}
	share := x.p.shares[x.class] * float64(total)
	if share <= 0 {
		return 0
	}
	return min(max(1-float64(x.p.class[i][x.class]+x.p.pend[i][x.class])/share, 0), 1)
}

// Pending is the engine's list, with the broker's reason for jobs no site
// can take.
func (f *Federation) Pending() []Status {
	out := f.Engine.Pending()
	for i := range out {
		if r, ok := f.routes[out[i].ID]; ok && r.Winner == "" {
			out[i].Reason, out[i].Reasons, out[i].EstimatedStart = r.Decision.Reason, []string{r.Decision.Reason}, nil
		}
	}
	return out
}

// queuedAt is the site pending job j waits for: the one it is pinned to,
// else the broker's winner ("" when none can take it).
func (f *Federation) queuedAt(j *job) string {
	if j.Spec.Site != "" {
		return j.Spec.Site
	}
	if r := f.routes[j.ID]; r != nil {
		return r.Winner
	}
	return ""
}

// eachPending calls fn for every pending job the engine holds.
func (f *Federation) eachPending(fn func(j *job)) {
	for _, list := range [][]*job{f.Engine.order, f.Engine.fresh} {
		for _, j := range list {
			if j.State == core.StatePending {
				fn(j)
			}
		}
	}
}

// QueuedBySite counts the pending jobs waiting for each site (pinned to
// it, or routed there by the broker): a site's queue as its users see
// it. Jobs no site can take are not counted.
func (f *Federation) QueuedBySite() map[string]int {
	out := map[string]int{}
	f.eachPending(func(j *job) {
		if s := f.queuedAt(j); s != "" {
			out[s]++
		}
	})
	return out
}

// QueuedAt returns the pending jobs waiting for site, lowest id first, at
// most max of them.
func (f *Federation) QueuedAt(site string, max int) []core.JobID {
	var out []core.JobID
	f.eachPending(func(j *job) {
		if f.queuedAt(j) == site {
			out = append(out, j.ID)
		}
	})
	slices.Sort(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}
