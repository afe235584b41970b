package engine

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// quotaBlock returns why a quota holds j now, or "".
func (e *Engine) quotaBlock(j *job) string {
	q := &e.cfg.Quotas
	if len(q.ProjectAccelerators) == 0 && len(q.ClassAccelerators) == 0 && len(q.ProjectBudgetHours) == 0 {
		return ""
	}
	m := j.req.Milli
	if lim, ok := q.ClassAccelerators[e.classOf(j)]; ok && e.classes[j.cls]+m > core.Milli(lim)*1000 {
		return fmt.Sprintf("org class %s at its limit of %d concurrent accelerators (%s in use)", e.classOf(j), lim, e.classes[j.cls])
	}
	p := j.proj
	if lim, ok := q.ProjectAccelerators[j.Project]; ok && p.running+m > core.Milli(lim)*1000 {
		return fmt.Sprintf("project %s at its limit of %d concurrent accelerators (%s in use)", j.Project, lim, p.running)
	}
	if b, ok := q.ProjectBudgetHours[j.Project]; ok {
		used := p.usedSec
		if !e.now.IsZero() && p.running > 0 && p.last.set {
			if n := e.stampOf(e.now); n > p.last.ns {
				used += float64(p.running) / 1000 * time.Duration(n-p.last.ns).Seconds()
			}
		}
		if used/3600 >= b {
			return fmt.Sprintf("project budget exhausted (%.1f of %.1f accelerator-hours used)", used/3600, b)
		}
	}
	return ""
}

// preemptFor preempts lower-tier preemptible jobs for j when doing so
// lets j start; the freed nodes are held for j meanwhile.
func (e *Engine) preemptFor(j *job, g *group, now time.Time) bool {
	pc := &e.cfg.Preemption
	if !pc.Enabled || g.preemptRun == e.pass || j.hold != nil && j.hold.kind != holdBackfill || len(e.preemptible) == 0 {
		return false
	}
	// Bound the work per pass: only the first few blocked jobs may look
	// for victims (the rest wait for the next pass, as in Slurm's
	// preemption by the main scheduler's top jobs).
	if e.preemptPass != e.pass {
		e.preemptPass, e.preemptTries = e.pass, 0
		e.victimList = e.victimList[:0]
		for _, v := range e.preemptible {
			e.victimList = append(e.victimList, v)
		}
	}
	if e.preemptTries >= max(e.cfg.BackfillDepth, 4) {
		return false
	}
	e.preemptTries++
	las := pc.Attained && e.cfg.Priority.AttainedWeight != 0
	nq := e.cfg.Priority.LAS.Queues()
	var jq int
	var jc float64
	if las {
		w := j.wt()
		jq, _ = e.cfg.Priority.LAS.Queue(w.attained, w.ran, w.queued, now)
		jc = e.fair.LeafClassFactor(j.acct.leaf)
		las = jq < nq-1 // nobody is in a later queue than the last
	}
	// The candidates, sorted by id below (the victim list is in the map's
	// order): the same victims whatever order the map gives.
	type cand struct {
		v      *job
		factor float64 // LAS: the later its queue, the cheaper a victim
	}
	var cs []cand
	for _, v := range e.victimList {
		if !v.placed || v.preempt || now.Sub(v.start) < pc.MinRuntime {
			continue
		}
		if v.tier < j.tier && v.Spec.Preemptible {
			cs = append(cs, cand{v, 1})
			continue
		}
		if !las || v.tier > j.tier || !v.Spec.Preemptible && !v.Spec.Checkpointable {
			continue
		}
		// Tiresias: a job of a later queue gives way, unless its class
		// stands further below its share than j's.
		vq, _ := e.cfg.Priority.LAS.Queue(v.wt().attained+float64(v.plMilli)/1000*now.Sub(v.start).Seconds(), 0, time.Time{}, now)
		if vq <= jq {
			continue
		}
		if e.fair.LeafClassFactor(v.acct.leaf) > jc {
			continue
		}
		cs = append(cs, cand{v, float64(nq - vq)})
	}
	if len(cs) == 0 {
		g.preemptRun = e.pass
		return false
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(a.v.ID, b.v.ID) })
	cands := make([]*job, len(cs))
	for i, c := range cs {
		cands[i] = c.v
	}
	vs := make([]sched.Victim, len(cands))
	for i, v := range cands {
		cost := float64(v.pl.Milli()) / 1000 * now.Sub(v.start).Seconds()
		if v.Spec.Checkpointable {
			cost *= 0.1 // loses only the work since its checkpoint
		}
		cost *= cs[i].factor
		vs[i] = sched.Victim{Index: i, Pl: &v.pl, Cost: cost}
	}
	// A reservation the job already holds is given up only if preemption
	// succeeds; its nodes are candidates too.
	old := j.hold
	if old != nil {
		old.hs.Release()
	}
	pr, ok := e.cluster.PreemptFor(&j.req, g.pools, vs)
	if old != nil {
		old.hs = e.cluster.NewHold(old.pool, old.nodes)
	}
	if !ok {
		g.preemptRun = e.pass
		return false
	}
	if old != nil {
		e.dropHold(j)
		e.reopen(j, old)
	}
	grace := e.grace()
	sig := pc.Signal
	if sig == "" {
		sig = "SIGUSR1"
	}
	until := now
	for _, vi := range pr.Victims {
		v := cands[vi]
		v.preempt = true
		in := Preempt{ID: v.ID, For: j.ID, Signal: "SIGTERM"}
		if v.Spec.Checkpointable {
			in.Grace, in.Signal = grace, sig
			if now.Add(grace).After(until) {
				until = now.Add(grace)
			}
		}
		e.intents = append(e.intents, in)
	}
	h := &hold{kind: holdPreempt, job: j, pool: pr.Pool, nodes: pr.Nodes, at: until}
	e.setAside(h)
	j.hold = h
	j.ww().est = until
	return true
}

// attain adds the run of j, requeued at at, to its attained service
// (LAS), and notes that it waits from then. Only requeued jobs need it:
// kept in their wait record, which most jobs never get.
func (e *Engine) attain(j *job, at time.Time) {
	if at.IsZero() {
		at = e.now
	}
	if j.start.IsZero() {
		return
	}
	w := j.ww()
	if d := at.Sub(j.start); d > 0 {
		w.attained += float64(j.plMilli) / 1000 * d.Seconds()
		w.ran += d
	}
	w.queued = at
}

// lasInput fills in what the class and attained factors of j's priority
// read: its class's standing (when weighed) and its attained service.
func (e *Engine) lasInput(j *job, in *sched.PriorityInput) {
	if e.cfg.Priority.ClassWeight != 0 {
		in.ClassFactor, in.Class, in.ClassRank, in.Classes = e.fair.LeafClass(j.acct.leaf)
	}
	if w := j.w; w != nil {
		in.Attained, in.Ran, in.Queued = w.attained, w.ran, w.queued
	}
}

// reserve creates or replaces an advance reservation.
func (e *Engine) reserve(r Reservation) {
	e.unreserve(r.Name)
	a := &advance{Reservation: r}
	e.resv = append(e.resv, a)
	slices.SortStableFunc(e.resv, func(x, y *advance) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	var pools []int
	for _, p := range e.cluster.Pools {
		if (r.Site == "" || p.Site.ID == r.Site) && (r.Pool == "" || p.Name == r.Pool) && (r.Model == "" || p.Model == r.Model) {
			pools = append(pools, p.Index)
		}
	}
	if len(pools) == 0 {
		a.miss = "no pool matches the reservation"
		return
	}
	if len(r.Blocks) > 0 {
		p := e.cluster.Pools[pools[0]]
		need := (r.Accelerators + p.K - 1) / p.K
		var nodes []int32
		for _, b := range r.Blocks {
			for i := b * p.NodesPerBlock; i < min((b+1)*p.NodesPerBlock, p.Nodes()) && len(nodes) < need; i++ {
				if !p.Held(i) {
					nodes = append(nodes, int32(i))
				}
			}
		}
		if len(nodes) < need {
			a.miss = fmt.Sprintf("blocks %v hold %d free nodes, %d needed", r.Blocks, len(nodes), need)
			return
		}
		a.h = &hold{kind: holdAdvance, adv: a, pool: p.Index, nodes: nodes, at: r.Start}
	} else {
		req := sched.Request{Milli: core.Milli(r.Accelerators) * 1000, Nodes: 0}
		// Force whole nodes even for a reservation smaller than one.
		if p := e.cluster.Pools[pools[0]]; r.Accelerators <= p.K {
			req.Nodes = 1
			req.Milli = core.Milli(p.K) * 1000
		}
		ea, ok := e.cluster.EarliestStart(&req, pools, r.Start.Unix())
		// An advance reservation holds nodes of one pool: not yet one
		// across pools (a whole site), which EarliestStart may offer.
		if !ok || req.Nodes == 1 && len(ea.Nodes) == 0 || len(ea.More) > 0 {
			a.miss = fmt.Sprintf("no pool can hold %d accelerators", r.Accelerators)
			return
		}
		nodes := ea.Nodes
		if req.Nodes == 1 {
			// A one-node reservation takes the node entirely.
			nodes = nodes[:1]
		}
		a.h = &hold{kind: holdAdvance, adv: a, pool: ea.Pool, nodes: nodes, at: r.Start}
	}
	e.holdVer++
	a.h.hs = e.cluster.NewHold(a.h.pool, a.h.nodes)
	a.h.nodes = slices.Clone(a.h.hs.Nodes)
}

func (e *Engine) unreserve(name string) {
	for i, a := range e.resv {
		if a.Name != name {
			continue
		}
		if a.h != nil {
			a.h.hs.Release()
			e.epoch++
			e.holdVer++
			e.resvFreed = true
		}
		e.resv = slices.Delete(e.resv, i, i+1)
		return
	}
}

// advanceReservations starts and ends advance reservations by the clock.
// When one that held nodes ends or is deleted, those that got none try
// again: a window booked after another on the same nodes gets them as
// the earlier one lets go (holds are not yet shared between windows).
func (e *Engine) advanceReservations(now time.Time) {
	for _, a := range slices.Clone(e.resv) {
		if !now.Before(a.End) {
			e.unreserve(a.Name)
			continue
		}
		a.active = !now.Before(a.Start)
	}
	if !e.resvFreed {
		return
	}
	e.resvFreed = false
	for _, a := range slices.Clone(e.resv) {
		if a.h == nil {
			active := a.active
			e.reserve(a.Reservation)
			for _, b := range e.resv {
				if b.Name == a.Name {
					b.active = active
				}
			}
		}
	}
}

// advanceFor returns the active reservation j may use, or nil.
func (e *Engine) advanceFor(j *job, now time.Time) *advance {
	for _, a := range e.resv {
		if a.active && a.h != nil && !a.Named && (slices.Contains(a.Projects, j.Project) || slices.Contains(a.Jobs, j.ID)) {
			return a
		}
	}
	return nil
}

// endEvent is a running or simulated job's expected end, for estimates.
type endEvent struct {
	at   int64
	id   core.JobID
	pool int32
	dev  int32
}

// endHeap is a min-heap of endEvents by (at, id), a total order, so any
// correct heap pops the same sequence. Four children a node: an estimate
// pops up to every running job (150,000 on the EU network), and a
// shallower heap misses the cache on fewer levels per pop. Typed rather
// than through container/heap, whose Pop boxed each result.
type endHeap []endEvent

const endArity = 4

func (h endHeap) less(a, b int) bool {
	if h[a].at != h[b].at {
		return h[a].at < h[b].at
	}
	return h[a].id < h[b].id
}

// lessThan reports whether h's least end comes before ev.
func (h endHeap) lessThan(ev *endEvent) bool {
	return h[0].at < ev.at || h[0].at == ev.at && h[0].id < ev.id
}

func (h endHeap) init() {
	for i := (len(h) - 2) / endArity; i >= 0; i-- {
		h.down(i)
	}
}

func (h endHeap) down(i int) {
	n := len(h)
	for {
		c := endArity*i + 1
		if c >= n {
			return
		}
		for k, last := c+1, min(c+endArity, n); k < last; k++ {
			if h.less(k, c) {
				c = k
			}
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (h *endHeap) push(ev endEvent) {
	*h = append(*h, ev)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / endArity
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *endHeap) pop() endEvent {
	s := *h
	ev := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	(*h).down(0)
	return ev
}

// runEnds keeps the placed jobs' expected ends (start plus walltime) by
// pool, as they are placed and released, so that an estimate reads the
// pools it needs instead of walking the whole job table (a quarter of a
// live replay's time on the EU network). ev[p][i] is jobs[p][i]'s; a job's
// runAt is its index in its pool's list + 1.
type runEnds struct {
	ev   [][]endEvent
	jobs [][]*job
}

func (r *runEnds) add(j *job, end int64) {
	p := j.pl.Pool
	if p >= len(r.ev) {
		r.ev = append(r.ev, make([][]endEvent, p+1-len(r.ev))...)
		r.jobs = append(r.jobs, make([][]*job, p+1-len(r.jobs))...)
	}
	r.ev[p] = append(r.ev[p], endEvent{at: end, id: j.ID, pool: int32(p), dev: int32(j.pl.Milli().Whole())})
	r.jobs[p] = append(r.jobs[p], j)
	j.runAt = int32(len(r.ev[p]))
}

func (r *runEnds) remove(j *job) {
	i := int(j.runAt) - 1
	if i < 0 {
		return
	}
	p := j.pl.Pool
	evs, jobs := r.ev[p], r.jobs[p]
	n := len(evs) - 1
	last := jobs[n]
	evs[i], jobs[i] = evs[n], last
	last.runAt = int32(i + 1)
	jobs[n] = nil
	r.ev[p], r.jobs[p] = evs[:n], jobs[:n]
	j.runAt = 0
}

// ensureEstimates brings the estimated starts up to date if a pass that
// reprioritised left them due. Readers of w.est call it first.
func (e *Engine) ensureEstimates() {
	if e.estDue {
		e.estDue = false
		e.estimate(e.now)
	}
}

// estimate sets every pending job's estimated start by simulating the
// queue in priority order on per-pool accelerator counts, with running
// jobs ending at their walltime (like `squeue --start`, without
// topology, so an approximation; a job with a reservation gets the
// reservation's time).
//
// The simulation takes the ends, running jobs' and simulated ones, one by
// one in (time, id) order, and after each looks again whether the job at
// hand fits; t, the time it has reached, never goes back. Only ends in the
// job's own pools can make it fit, so estEnds keeps them per pool and
// takes the others lazily: the result is the one of a single heap over
// the network (estimate_test.go checks it against one), without popping
// every end of 150,000 running jobs to reach one pool's.
func (e *Engine) estimate(now time.Time) {
	free := make([]int, len(e.cluster.Pools))
	for i, p := range e.cluster.Pools {
		free[i] = p.Free()
	}
	if !e.runTracked {
		e.runTracked = true
		e.jobs.each(func(_ core.JobID, j *job) {
			if j.placed {
				e.run.add(j, j.start.Add(j.wall).Unix())
			}
		})
	}
	q := &e.estQ
	q.reset(len(free), now.Unix())
	// The running jobs' ends are taken only when a pending job needs one:
	// when nothing waits (most passes of a busy but unsaturated network)
	// an estimate costs nothing per running job.
	built := false
	t := now.Unix()
	for _, j := range e.order {
		if j.State != core.StatePending {
			continue
		}
		if j.w != nil {
			j.w.est = time.Time{}
		}
		if j.wt().quota != "" && j.seenPass == e.pass || j.seenPass != e.pass && j.shape.pass == e.pass && j.shape.quota != "" {
			continue // held by a quota: no estimate
		}
		if j.hold != nil && j.hold.kind != holdAdvance {
			j.ww().est = j.hold.at // the reservation is the estimate
			continue
		}
		if a := e.named(j); a != nil {
			if a.h != nil && a.Start.After(now) {
				j.ww().est = a.Start // its window's start
			}
			continue
		}
		pools := j.shape.grp.pools
		if pools == nil {
			pools = e.cluster.Eligible(&j.req)
			j.shape.grp.pools = pools
		}
		fits := false
		for _, pi := range pools {
			if j.req.Devices(e.cluster.Pools[pi]) <= e.cluster.Pools[pi].Total() {
				fits = true
			}
		}
		if !fits {
			continue
		}
		// A job this pass found no room for cannot start before something
		// ends, whatever the counts say (fragmentation, topology).
		blocked := j.seenPass == e.pass && j.wt().miss.Code != sched.MissNone && t == now.Unix()
		for {
			placed := false
			for _, pi := range pools {
				if blocked {
					break
				}
				q.sync(pi, free)
				p := e.cluster.Pools[pi]
				if d := j.req.Devices(p); d <= free[pi] {
					free[pi] -= d
					q.insert(endEvent{at: t + int64(j.wall/time.Second), id: j.ID, pool: int32(pi), dev: int32(d)})
					placed = true
					break
				}
			}
			if placed {
				break
			}
			if !built {
				built = true
				q.addRunning(e.run.ev)
			}
			if at, ok := q.advance(pools, blocked, free); ok {
				t = max(t, at)
				blocked = blocked && t == now.Unix()
				continue
			}
			t = max(t, q.maxAt) // every end taken: t is the last
			break
		}
		w := j.ww()
		w.est = time.Unix(t, 0).UTC()
		if j.hold != nil && j.hold.at.Before(w.est) {
			w.est = j.hold.at
		}
	}
}

// estEnds holds an estimate's ends: per pool a heap, and a cursor k: in
// the order of one heap over every pool, the ends up to k have been taken.
// A pool's ends up to k are added to its free count when the pool is
// looked at (sync), not when k passes them; its running jobs' ends are
// read then too, the first time. An end simulated for a job placed at t
// sorts after k unless its walltime is under a second; such ends go to
// late, taken before any other, as the one heap would.
type estEnds struct {
	pools []endHeap
	late  endHeap
	k     endEvent
	now   int64
	// run holds the running jobs' ends by pool, once an estimate needs
	// them (addRunning); loaded says which pools' are in pools.
	run    [][]endEvent
	loaded []bool
	// maxAt is the latest end added, next the first after now, for a job
	// that must wait for something to end (valid while hasNext and
	// k.at <= now): of the simulated ends as they come, of the running
	// ones when first asked (scanned).
	maxAt   int64
	next    endEvent
	hasNext bool
	scanned bool
}

// endLE reports whether a comes before b or is b, in (at, id) order.
func endLE(a, b *endEvent) bool { return a.at < b.at || a.at == b.at && a.id <= b.id }

func (q *estEnds) reset(pools int, now int64) {
	if len(q.pools) != pools {
		q.pools = make([]endHeap, pools)
		q.loaded = make([]bool, pools)
	}
	for i := range q.pools {
		q.pools[i] = q.pools[i][:0]
	}
	clear(q.loaded)
	q.late, q.run = q.late[:0], nil
	q.k = endEvent{at: math.MinInt64, id: math.MinInt64}
	q.maxAt, q.now, q.hasNext, q.scanned = math.MinInt64, now, false, false
}

func (q *estEnds) note(ev *endEvent) {
	q.maxAt = max(q.maxAt, ev.at)
	if ev.at > q.now && (!q.hasNext || endLE(ev, &q.next)) {
		q.next, q.hasNext = *ev, true
	}
}

// scan notes the running jobs' ends, for maxAt and next.
func (q *estEnds) scan() {
	if q.scanned || q.run == nil {
		return
	}
	q.scanned = true
	for _, evs := range q.run {
		for _, ev := range evs {
			ev.at = max(ev.at, q.now)
			q.note(&ev)
		}
	}
}

// insert adds a simulated end.
func (q *estEnds) insert(ev endEvent) {
	if endLE(&ev, &q.k) {
		q.late.push(ev)
		return
	}
	q.note(&ev)
	q.pools[ev.pool].push(ev)
}

// addRunning makes the running jobs' ends part of the estimate; each
// pool's are read when the pool is first looked at.
func (q *estEnds) addRunning(run [][]endEvent) { q.run = run }

// sync adds to pool pi's free count its ends up to k.
func (q *estEnds) sync(pi int, free []int) {
	h := &q.pools[pi]
	if q.run != nil && !q.loaded[pi] {
		q.loaded[pi] = true
		if pi < len(q.run) {
			for _, ev := range q.run[pi] {
				ev.at = max(ev.at, q.now) // past due: ends now at the earliest
				*h = append(*h, ev)
			}
			h.init()
		}
	}
	for len(*h) > 0 && endLE(&(*h)[0], &q.k) {
		ev := h.pop()
		free[pi] += int(ev.dev)
	}
}

// advance takes ends as the one heap would until one may change whether
// a job of pools fits, and returns its time; false when none is left (k
// then passes every end). A blocked job waits for the first end after now,
// wherever it is.
func (q *estEnds) advance(pools []int, blocked bool, free []int) (int64, bool) {
	if len(q.late) > 0 {
		ev := q.late.pop()
		free[ev.pool] += int(ev.dev)
		return ev.at, true
	}
	if blocked {
		q.scan()
		if !q.hasNext {
			q.passAll()
			return 0, false
		}
		q.k, q.hasNext = q.next, false
		return q.k.at, true
	}
	best := -1
	for _, pi := range pools {
		q.sync(pi, free)
		if h := q.pools[pi]; len(h) > 0 && (best < 0 || h.lessThan(&q.pools[best][0])) {
			best = pi
		}
	}
	if best < 0 {
		q.passAll()
		return 0, false
	}
	q.k = q.pools[best][0]
	return q.k.at, true
}

// passAll takes every end left: later ones go to late.
func (q *estEnds) passAll() {
	q.scan()
	q.k = endEvent{at: math.MaxInt64, id: math.MaxInt64}
	q.hasNext = false
}

func (e *Engine) grace() time.Duration {
	if g := e.cfg.Preemption.Grace; g > 0 {
		return g
	}
	return 5 * time.Minute
}
