package sim

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Epoch is virtual time zero: the engine sees Epoch + simulated time. A
// fixed date keeps runs reproducible.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// runFor is how long a's run lasts once started: its duration, or its
// walltime when that is shorter (timeout: the run is cut off then). A job
// that gives no walltime runs its recorded duration: the engine plans it
// with its site's default walltime, as live does, but the twin does not
// cut it off there (TraceWalltimes).
func (a *Arrival) runFor() (d time.Duration, timeout bool) {
	if a.Walltime > 0 && a.Duration > a.Walltime {
		return a.Walltime, true
	}
	return a.Duration, false
}

// runLeft is x's next run: what is left of its work after the runs it
// checkpointed (all of it for a job that never ran), cut at the walltime.
func (x *running) runLeft() (d time.Duration, timeout bool) {
	if x.done == 0 {
		return x.arr.runFor()
	}
	d = max(x.arr.Duration-x.done, 0)
	if w := x.arr.Walltime; w > 0 && x.done+d > w {
		return max(w-x.done, 0), true
	}
	return d, false
}

// TraceWalltimes is the one deliberate difference between the twin and
// live, recorded in each policy's config in summary.json
// ("trace_walltimes"): live's sites cut a job that gives no walltime off
// at the site's default walltime (1 h on the EU network); the twin plans
// such a job with that default, as live does, but lets it run its
// recorded duration, because a trace's users (Philly's give no walltime)
// were not subject to that limit. A job that gives a walltime is cut off
// at it in both.
const TraceWalltimes = "planned, not enforced"

// warmSink keeps what Replay's warm-ups read, so that the compiler keeps
// the reads (atomic: replays may run side by side).
var warmSink atomic.Uint64

// ReplayConfig is one replay of one policy.
type ReplayConfig struct {
	// Context stops the run, with its error, when it is done (gf simulate
	// passes its signal context, so ^C ends a month's replay); nil runs
	// to the end.
	Context context.Context
	Policy  string
	// Engine is the operator's engine configuration (the config file's
	// scheduler section) for the live and lean policies; nil =
	// engine.DefaultConfig(), as `gf serve` without one.
	Engine  *engine.Config
	Sites   []core.Site
	Jobs    Stream
	Outages []Outage
	// OrgKind maps tenants to organisation classes for fair share.
	OrgKind map[string]string
	// Mix is the workload's request mix for fragmentation-aware placement
	// (policy gigafactory); see MixOfArrivals.
	Mix sched.RequestMix
	// Horizon stops the simulation at this virtual time (0 = when the
	// last job ends, or nothing more can start).
	Horizon time.Duration
	// Tick coalesces scheduling passes: events apply at their own times,
	// but Step runs at most once per Tick of virtual time (the live daemon
	// coalesces passes the same way, at most one per 5 ms of wall time).
	// 0 = a pass at every distinct event time. Waits gain at most Tick.
	Tick time.Duration
	// Sample is the time series interval (0 = Horizon/400, at least 1 min).
	Sample time.Duration
	// JobsOut receives jobs.csv rows; nil = do not write them.
	JobsOut io.Writer
	// Progress is called now and then with the virtual time reached.
	Progress func(now time.Duration)
	// Clock reads the wall clock for the timing figures; nil = no timing
	// (deterministic output). The core never reads it.
	Clock func() time.Time
	// Broker puts the federation broker in front of the engine for the
	// alternative policies (fifo, backfill, gigafactory); live always has
	// it and lean never. See PolicyScheduling.
	Broker bool
	// Fast turns on the engine's replay-only opt-ins, which change no
	// decision: Warm (read ahead for a batch of events), SplitStarts
	// (starts unboxed) and ReuseAllocations, where the replay allows them.
	// A month of the EU network takes a fraction less with them; tests
	// compare both ways.
	Fast bool
	// OnStart, when set, is told of each start: the job, when, and where
	// (tests compare the twin's placements with the live daemon's).
	OnStart func(id core.JobID, at time.Duration, alloc *core.Allocation)
}

// scheduler is what the replay drives: the engine, or the federation
// (broker and engine) that the live daemon runs.
type scheduler interface {
	Apply(engine.Event)
	Step(time.Time) ([]engine.Intent, time.Time)
	Cluster() *sched.Cluster
}

// maxReplaySites is the most sites a replay takes: an end queue entry
// holds a site's index in 16 bits.
const maxReplaySites = 1<<15 - 1

// warmer is a scheduler that can read ahead what the events about some
// jobs will need (engine.Engine.Warm).
type warmer interface {
	Warm(ids []core.JobID) uint64
}

// starter is a scheduler whose starts can come apart from its other
// intents (engine.Engine.SplitStarts) and whose allocations can be reused
// once their jobs end (ReuseAllocations).
type starter interface {
	SplitStarts()
	Starts() []engine.Start
	ReuseAllocations()
}

// running is the simulator's record of a job from arrival to end: waiting
// or, when active, running (one record and one map entry per job, not
// one per state).
type running struct {
	id      core.JobID
	arr     Arrival
	start   time.Duration
	end     time.Duration
	site    int
	pool    string // the run's pool ("a,b" for a gang across pools), for jobs.csv
	active  bool   // started and not yet ended
	timeout bool
	requeue bool // preempted: the run ends early and the job waits again
	// done is the work of earlier runs a checkpointable job keeps when
	// preempted: its next run is only what is left (runLeft).
	done time.Duration
	gen  uint32 // bumped when taken out of the end heap early
	cls  *tenantStats
}

// Replay drives the engine over the job stream in virtual time: arrivals
// become Submitted events, Step's Start intents become runs that end after
// the job's duration (or its walltime), site outages take sites down and
// end or requeue the jobs there. It returns the policy's results.
//
// Each turn of the loop is the steps of a replay, in order:
//
//  1. next: the next time something happens (an end, an arrival, an
//     outage, a wake-up, a deferred pass), and the record up to it;
//  2. read: the runs that end and the jobs that arrive then;
//  3. apply: those ends, the sites' changes and the arrivals, as events;
//  4. step: a scheduling pass (at most one per Tick) and its intents
//     carried out (starts, requeues, preemptions);
//
// then finish: the figures at the end.
func Replay(cfg ReplayConfig) (*PolicyResult, error) {
	r, err := newReplay(cfg)
	if err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		if cfg.Context != nil && n%4096 == 0 {
			if err := cfg.Context.Err(); err != nil {
				return nil, fmt.Errorf("replay stopped at %s of virtual time: %w", r.nowT.Sub(Epoch), err)
			}
		}
		t, ok := r.next()
		if !ok {
			break
		}
		r.record(t)
		if err := r.read(); err != nil {
			return nil, err
		}
		r.apply()
		if err := r.step(); err != nil {
			return nil, err
		}
	}
	return r.finish(), nil
}

// replay is one run of Replay: the scheduler it drives, the runs it
// keeps, and the virtual clock.
type replay struct {
	cfg     ReplayConfig
	sched   scheduler
	st      *stats
	siteIdx map[string]int
	outs    []outageEvent
	sample  time.Duration
	// keep: the end queue keeps each run's record, for what needs it
	// after the start: taking runs out early (outages, preemption, the
	// broker's requeues) and jobs.csv. Otherwise a record is reused as
	// soon as its job starts, and an end touches only its queue entry.
	keep bool
	// requeueLost: a site going down requeues the jobs there through the
	// scheduler's Requeue intents (the federation's, as live) rather
	// than the replay ending them.
	requeueLost bool

	warm     warmer // nil unless Fast
	split    starter
	canSplit bool

	now  time.Duration
	nowT time.Time // Epoch + now, made once per time
	ends *endQueue
	// One event of each hot kind, reused: applied by pointer, they are
	// not boxed (copied to the heap) once per job.
	evSubmitted engine.Submitted
	evStarted   engine.Started
	evEnded     engine.Ended
	// waiting holds the jobs not running; a running job is reached
	// through its entry in ends (a map entry per running job cost a
	// lookup, an insert and a delete per job, on a map of 160,000).
	waiting map[core.JobID]*running
	// fresh holds the jobs that arrived since the last pass, by id from
	// freshBase (ids are handed out in order): most start at the next
	// pass and so never need an entry in waiting.
	fresh     []*running
	freshBase core.JobID
	nWaiting  int
	nActive   int
	nextID    core.JobID
	arrival   Arrival // the next arrival, when haveNext
	haveNext  bool
	wake      time.Duration
	idle      int
	lastStep  time.Duration
	needStep  bool
	nextSamp  time.Duration
	nextProg  time.Duration
	// free holds run records no longer needed (the job ended or, in the
	// lean mode, started), for the next arrivals (take): the record
	// touched last is still in cache, and a month of the EU network would
	// otherwise allocate 32 million.
	free []*running
	// ending and ids hold the runs that end at one time, and their ids
	// for the engine's Warm.
	ending []endEntry
	ids    []core.JobID
	// arriving holds the arrivals due at one time, taken from the stream
	// before the ends are applied so that their table slots are warmed
	// with the ends'.
	arriving []Arrival
	// sink takes what the warm-ups read, so that no read is dropped.
	sink      uint64
	wallStart time.Time
}

// newReplay builds the scheduler cfg's policy runs and reads the first
// arrival.
func newReplay(cfg ReplayConfig) (*replay, error) {
	s, err := PolicyScheduling(cfg.Policy, cfg.Engine, cfg.OrgKind, cfg.Mix, cfg.Broker)
	if err != nil {
		return nil, err
	}
	if len(cfg.Sites) > maxReplaySites {
		return nil, fmt.Errorf("replay: %d sites, at most %d", len(cfg.Sites), maxReplaySites)
	}
	r := &replay{cfg: cfg, st: newStats(cfg.Sites, cfg.Policy, classShares(s)), siteIdx: map[string]int{}, ends: newEndQueue(),
		waiting: map[core.JobID]*running{}, freshBase: 1, wake: -1, lastStep: -1, nowT: Epoch}
	if cfg.Clock != nil {
		r.wallStart = cfg.Clock()
	}
	if r.st.res.Config, err = s.Record(); err != nil {
		return nil, err
	}
	if s.Broker {
		rt := s.Routing
		// The twin never explains: the broker builds the winner's verdict
		// only, which changes no decision (Routing.WinnerOnly).
		rt.WinnerOnly = true
		r.sched = engine.NewFederation(s.Engine, rt, cfg.Sites)
		r.requeueLost = true
	} else {
		r.sched = engine.New(s.Engine, cfg.Sites)
	}
	for i, site := range cfg.Sites {
		r.siteIdx[site.ID] = i
	}
	if r.outs, err = outageEvents(cfg.Outages, r.siteIdx); err != nil {
		return nil, err
	}
	r.sample = cfg.Sample
	if r.sample <= 0 {
		r.sample = max(cfg.Horizon/400, time.Minute)
	}
	r.keep = cfg.JobsOut != nil || len(r.outs) > 0 || s.Broker || s.Engine.Preemption.Enabled
	if cfg.Fast {
		r.warm, _ = r.sched.(warmer)
		// In the lean mode (!keep) the starts come apart from the other
		// intents (engine.Engine.SplitStarts): no Start is boxed into an
		// Intent, one allocation per job less. The other intents cannot
		// occur then, so their order relative to the starts is moot.
		r.split, r.canSplit = r.sched.(starter)
		r.canSplit = r.canSplit && !r.keep
		if r.canSplit {
			r.split.SplitStarts()
			// Nothing keeps an allocation past its job's start either.
			r.split.ReuseAllocations()
		}
	}
	if err := r.pull(); err != nil {
		return nil, err
	}
	return r, nil
}

// pull reads the next arrival from the stream.
func (r *replay) pull() error {
	a, err := r.cfg.Jobs.Next()
	if err == io.EOF {
		r.haveNext = false
		return nil
	}
	if err != nil {
		return err
	}
	if r.haveNext && a.Submit < r.arrival.Submit {
		return fmt.Errorf("replay: arrivals out of order (%v after %v)", a.Submit, r.arrival.Submit)
	}
	r.arrival, r.haveNext = a, true
	return nil
}

// take returns a run record for an arrival, reusing a free one.
func (r *replay) take() *running {
	n := len(r.free)
	if n == 0 {
		return &running{}
	}
	x := r.free[n-1]
	r.free[n-1] = nil
	r.free = r.free[:n-1]
	return x
}

// recycle keeps a record no longer needed for a later arrival.
func (r *replay) recycle(x *running) {
	if len(r.free) < 4096 {
		// Keep gen moving: an end queue entry left stale by an early
		// removal must stay stale for the next job.
		*x = running{gen: x.gen + 1}
		r.free = append(r.free, x)
	}
}

// next is step 1: the next time something happens; false when nothing
// will (or past the horizon).
func (r *replay) next() (time.Duration, bool) {
	t := time.Duration(-1)
	consider := func(c time.Duration) {
		if c >= 0 && (t < 0 || c < t) {
			t = c
		}
	}
	if r.haveNext {
		consider(r.arrival.Submit)
	}
	if e, ok := r.ends.peek(); ok {
		consider(e.end)
	}
	if len(r.outs) > 0 {
		consider(r.outs[0].at)
	}
	if r.wake > r.now && r.idle < 2 {
		// Only a wake-up is left when nothing arrives, runs or changes:
		// allow two idle passes (reservations may start jobs), then stop
		// rather than tick forever.
		consider(r.wake)
	}
	if r.needStep && r.cfg.Tick > 0 && r.lastStep >= 0 {
		consider(r.lastStep + r.cfg.Tick)
	}
	if t < 0 || (r.cfg.Horizon > 0 && t > r.cfg.Horizon) {
		return 0, false
	}
	return t, true
}

// record takes the figures up to t (samples, utilisation) and moves the
// clock there.
func (r *replay) record(t time.Duration) {
	for r.nextSamp <= t {
		r.st.sample(r.nextSamp, r.sched, r.nWaiting)
		r.nextSamp += r.sample
	}
	r.st.advance(t)
	r.now = t
	r.nowT = Epoch.Add(t)
	if r.cfg.Progress != nil && r.now >= r.nextProg {
		r.cfg.Progress(r.now)
		r.nextProg = r.now + r.sample
	}
}

// read is step 2: the runs that end now, taken out first so that the
// engine can read what their ends need in one go (Warm), and the
// arrivals due now.
func (r *replay) read() error {
	r.ending = r.ending[:0]
	for {
		e, ok := r.ends.peek()
		if !ok || e.end > r.now {
			break
		}
		r.ending = append(r.ending, r.ends.pop())
	}
	r.arriving = r.arriving[:0]
	for r.haveNext && r.arrival.Submit <= r.now {
		r.arriving = append(r.arriving, r.arrival)
		if err := r.pull(); err != nil {
			return err
		}
	}
	if r.warm != nil && len(r.ending)+len(r.arriving) > 1 {
		// The ends' records, nodes and histogram counts, and the
		// arrivals' slots in the engine's job table: read level by level,
		// so that their misses overlap (engine.Engine.Warm).
		r.ids = r.ids[:0]
		for i := range r.ending {
			r.ids = append(r.ids, r.ending[i].id)
			r.sink += r.st.warm(&r.ending[i], r.now)
		}
		for i := range r.arriving {
			r.ids = append(r.ids, r.nextID+1+core.JobID(i))
		}
		r.sink += r.warm.Warm(r.ids)
	}
	return nil
}

// apply is step 3: what was read, and the sites' changes, as events.
func (r *replay) apply() {
	for i := range r.ending {
		x := &r.ending[i]
		state := core.StateCompleted
		if x.timeout {
			state = core.StateTimeout
		}
		r.end(x, state, x.requeue)
	}
	for len(r.outs) > 0 && r.outs[0].at <= r.now {
		o := r.outs[0]
		r.outs = r.outs[1:]
		r.siteChanged(o)
	}
	for _, a := range r.arriving {
		r.nextID++
		x := r.take()
		x.id, x.arr, x.cls = r.nextID, a, r.st.submitted(a)
		r.fresh = append(r.fresh, x)
		r.nWaiting++
		r.evSubmitted.Job = coreJob(r.nextID, a)
		r.sched.Apply(&r.evSubmitted)
		r.st.events++
	}
}

// siteChanged takes a site down or brings it back. With the broker the
// federation requeues the site's jobs (Requeue intents at the next pass),
// as live; the engine alone does not, so the replay ends them: failed, or
// waiting again when preemptible.
func (r *replay) siteChanged(o outageEvent) {
	state := core.SiteActive
	if o.down {
		state = core.SiteDown
	}
	r.sched.Apply(engine.SiteChanged{Site: r.cfg.Sites[o.site].ID, State: state})
	r.st.events++
	if !o.down || r.requeueLost {
		return
	}
	var lost []*running
	for _, x := range r.ends.runs() {
		if x.active && x.site == o.site {
			lost = append(lost, x)
		}
	}
	slices.SortFunc(lost, func(a, b *running) int { return cmp.Compare(a.id, b.id) })
	for _, x := range lost {
		r.lose(x, x.arr.Preemptible)
	}
}

// lose ends a run cut short (its site went down): failed, or requeued.
func (r *replay) lose(x *running, requeue bool) {
	r.ends.remove(x)
	r.st.lost++
	e := entryOf(x, true)
	r.end(&e, core.StateFailed, requeue)
}

// end applies the end of e's run.
func (r *replay) end(e *endEntry, state core.State, requeue bool) {
	r.evEnded = engine.Ended{ID: e.id, State: state, At: r.nowT, Requeue: requeue}
	r.sched.Apply(&r.evEnded)
	r.st.events++
	r.nActive--
	r.st.released(e, r.now)
	x := e.r
	if requeue {
		// Only kept runs are requeued (keep covers every source).
		x.active = false
		r.nWaiting++
		r.waiting[x.id] = x
		r.st.requeued(x)
		return
	}
	r.st.ended(e, r.now, state, r.cfg.JobsOut, x)
	if x != nil {
		r.recycle(x)
	}
}

// step is step 4: a scheduling pass, at most one per Tick, and its
// intents carried out.
func (r *replay) step() error {
	r.needStep = true
	if r.cfg.Tick > 0 && r.lastStep >= 0 && r.now < r.lastStep+r.cfg.Tick {
		return nil
	}
	r.needStep, r.lastStep = false, r.now
	if !r.haveNext && r.ends.Len() == 0 && len(r.outs) == 0 {
		r.idle++
	} else {
		r.idle = 0
	}
	intents, w := r.sched.Step(r.nowT)
	var starts []engine.Start
	if r.canSplit {
		starts = r.split.Starts()
	}
	if len(intents) > 0 || len(starts) > 0 {
		r.idle = 0
	}
	r.st.steps++
	r.wake = -1
	if !w.IsZero() {
		r.wake = w.Sub(Epoch)
	}
	if err := r.carryOut(intents); err != nil {
		return err
	}
	if len(starts) > 1 {
		// Each start writes an end queue entry to a line that has left
		// the cache: read those lines first, all together.
		for i := range starts {
			if k := starts[i].ID - r.freshBase; k >= 0 && k < core.JobID(len(r.fresh)) && r.fresh[k] != nil {
				run, _ := r.fresh[k].arr.runFor()
				r.sink += r.ends.warm(r.now + run)
			}
		}
	}
	for i := range starts {
		if err := r.start(&starts[i]); err != nil {
			return err
		}
	}
	for _, x := range r.fresh {
		if x != nil {
			r.waiting[x.id] = x
		}
	}
	clear(r.fresh)
	r.fresh, r.freshBase = r.fresh[:0], r.nextID+1
	return nil
}

// carryOut does what a pass's intents ask.
func (r *replay) carryOut(intents []engine.Intent) error {
	// runningJob finds a running job by id for a Requeue or Preempt
	// (rare: the index is built from the end queue on first use).
	var active map[core.JobID]*running
	runningJob := func(id core.JobID) *running {
		if active == nil {
			active = map[core.JobID]*running{}
			for _, x := range r.ends.runs() {
				active[x.id] = x
			}
		}
		if x := active[id]; x != nil && x.active {
			return x
		}
		return nil
	}
	for _, in := range intents {
		switch in := in.(type) {
		case engine.Start:
			if err := r.start(&in); err != nil {
				return err
			}
		case engine.Requeue:
			// The site went down: the run is lost, the job waits again
			// and the broker routes it elsewhere (daemon.requeue, live).
			if !r.keep {
				return fmt.Errorf("replay: requeue of job %d, but runs are not kept", in.ID)
			}
			if x := runningJob(in.ID); x != nil {
				r.lose(x, true)
			}
		case engine.Preempt:
			// Stopped after the grace period; the run is lost and the job
			// waits again.
			if !r.keep {
				return fmt.Errorf("replay: preemption of job %d, but runs are not kept", in.ID)
			}
			if x := runningJob(in.ID); x != nil {
				r.ends.remove(x)
				if x.arr.Checkpointable {
					// It checkpoints when signalled: the work up to now is
					// kept, the grace it spends checkpointing is not.
					x.done += r.now - x.start
				}
				x.end, x.timeout, x.requeue = r.now+in.Grace, false, true
				r.ends.push(x, true)
				r.st.preempted++
			}
		}
	}
	return nil
}

// start carries out a Start: the job's run begins now.
func (r *replay) start(in *engine.Start) error {
	var x *running
	if k := in.ID - r.freshBase; k >= 0 && k < core.JobID(len(r.fresh)) {
		x, r.fresh[k] = r.fresh[k], nil
	}
	if x == nil {
		if x = r.waiting[in.ID]; x != nil {
			delete(r.waiting, in.ID)
		}
	}
	if x == nil || x.active {
		return fmt.Errorf("replay: engine started unknown job %d", in.ID)
	}
	r.nWaiting--
	site, ok := r.siteIdx[in.Alloc.Site]
	if !ok {
		return fmt.Errorf("replay: engine started job %d on unknown site %q", in.ID, in.Alloc.Site)
	}
	run, timeout := x.runLeft()
	x.start, x.end, x.site, x.timeout, x.requeue = r.now, r.now+run, site, timeout, false
	x.active = true
	if r.cfg.JobsOut != nil {
		x.pool = in.Alloc.Pool
	}
	r.nActive++
	r.ends.push(x, r.keep)
	r.evStarted = engine.Started{ID: in.ID, Alloc: in.Alloc, At: r.nowT}
	r.sched.Apply(&r.evStarted)
	r.st.events++
	r.st.started(x, r.now)
	if r.cfg.OnStart != nil {
		r.cfg.OnStart(in.ID, r.now, &in.Alloc)
	}
	if !r.keep {
		r.recycle(x)
	}
	return nil
}

// finish closes the figures at the end of the run.
func (r *replay) finish() *PolicyResult {
	end := r.now
	if r.cfg.Horizon > 0 {
		end = r.cfg.Horizon
	}
	st := r.st
	st.advance(end)
	st.sample(end, r.sched, r.nWaiting)
	st.res.Unfinished = r.nWaiting + r.nActive
	warmSink.Add(r.sink)
	st.finish(end)
	if r.cfg.Clock != nil {
		st.res.WallSeconds = r.cfg.Clock().Sub(r.wallStart).Seconds()
		if st.res.WallSeconds > 0 {
			st.res.EventsPerSecond = float64(st.events) / st.res.WallSeconds
		}
	}
	return st.res
}

// coreJob is the job as the control plane would hold it after submission
// (without a name: nothing in the twin reads one, and 32 million of them
// cost 3 s).
func coreJob(id core.JobID, a Arrival) core.Job {
	qos := core.QoSNormal
	if a.Moonshot {
		qos = core.QoSMoonshot
	}
	at := Epoch.Add(a.Submit)
	return core.Job{
		ID: id, Project: a.Tenant, Org: a.Tenant, User: a.Tenant,
		Spec: core.JobSpec{
			Accelerators: a.Milli, Model: a.Model, Walltime: core.Duration(a.Walltime),
			QoS: qos, Preemptible: a.Preemptible, Checkpointable: a.Checkpointable, Residency: a.Residency,
		},
		State:      core.StatePending,
		SubmitTime: at,
		UpdateTime: at,
	}
}

// Outage takes a site down at At for For (0 = for the rest of the run).
type Outage struct {
	Site string        `yaml:"site" json:"site"`
	At   time.Duration `yaml:"-" json:"-"`
	For  time.Duration `yaml:"-" json:"-"`
	AtS  float64       `yaml:"at_s" json:"at_s"`
	ForS float64       `yaml:"for_s" json:"for_s"`
}

type outageEvent struct {
	at   time.Duration
	site int
	down bool
}

func outageEvents(os []Outage, siteIdx map[string]int) ([]outageEvent, error) {
	var evs []outageEvent
	for _, o := range os {
		i, ok := siteIdx[o.Site]
		if !ok {
			var known []string
			for id := range siteIdx {
				known = append(known, id)
			}
			slices.Sort(known)
			if len(known) > 8 {
				known = append(known[:8], "...")
			}
			return nil, fmt.Errorf("outage: unknown site %q (sites: %s)", o.Site, strings.Join(known, ", "))
		}
		evs = append(evs, outageEvent{at: o.At, site: i, down: true})
		if o.For > 0 {
			evs = append(evs, outageEvent{at: o.At + o.For, site: i})
		}
	}
	slices.SortStableFunc(evs, func(a, b outageEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.site, b.site)
	})
	return evs, nil
}

// classShares is the class shares fairness is judged against: the
// policy's engine's, else those `gf serve` runs by default (a policy
// that ignores classes is still measured against them).
func classShares(s Scheduling) map[string]float64 {
	if cs := s.Engine.FairShare.ClassShares; len(cs) > 0 {
		return cs
	}
	return engine.DefaultConfig().FairShare.ClassShares
}
