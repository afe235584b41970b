package sim

import (
	"cmp"
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
// walltime when that is shorter (timeout: the run is cut off then).
func (a *Arrival) runFor() (d time.Duration, timeout bool) {
	if a.Walltime > 0 && a.Duration > a.Walltime {
		return a.Walltime, true
	}
	return a.Duration, false
}

// warmSink keeps what Replay's warm-ups read, so that the compiler keeps
// the reads (atomic: replays may run side by side).
var warmSink atomic.Uint64

// Policies the replay knows, as --policy spells them.
const (
	PolicyFIFO        = "fifo"
	PolicyBackfill    = "backfill"
	PolicyGigafactory = "gigafactory"
)

// PolicyConfig returns the engine configuration for a policy name.
// orgKind maps each tenant (the job's org) to its organisation class, for
// fair share.
//
//   - fifo: the engine's zero Config (submission order, first fit, no
//     reservations, no preemption), priorities recomputed every minute.
//   - backfill: Slurm-like multifactor priority (sched.DefaultPriority:
//     fair share, QoS, age, size) with EASY backfill (one reservation, the
//     head of the queue), flat fair share between organisations, no
//     preemption.
//   - gigafactory: engine.DefaultConfig(): hierarchical fair share by
//     organisation class, 16 reservations, QoS tiers with preemption; and,
//     when mix is not empty, fragmentation-aware placement of one-node
//     jobs against the workload's mix (sched.FragAware).
func PolicyConfig(name string, orgKind map[string]string, mix sched.RequestMix) (engine.Config, error) {
	switch name {
	case PolicyFIFO:
		// All priority weights zero: submission order. Recomputing that
		// order every minute instead of every pass changes nothing but
		// the cost.
		return engine.Config{PriorityInterval: time.Minute}, nil
	case PolicyBackfill:
		return engine.Config{
			DefaultWalltime:  24 * time.Hour,
			BackfillDepth:    1,
			PriorityInterval: time.Minute,
			Priority:         sched.DefaultPriority(),
			FairShare:        sched.FairShareConfig{HalfLife: 7 * 24 * time.Hour},
		}, nil
	case PolicyGigafactory:
		c := engine.DefaultConfig()
		c.FairShare.OrgKind = orgKind
		c.Fragmentation = mix
		return c, nil
	}
	return engine.Config{}, fmt.Errorf("unknown policy %q (fifo, backfill, gigafactory)", name)
}

// ReplayConfig is one replay of one policy.
type ReplayConfig struct {
	Policy  string
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
	// Broker puts the federation broker in front of the engine, as the
	// live daemon does (engine.NewFederation): each job is routed to one
	// site by the broker (compute, residency, estimated start, price,
	// carbon, fair-share headroom), then placed within it, and the jobs
	// of a site that goes down are requeued and routed again. Without it,
	// the engine places each job in any eligible pool of the network.
	// A broker decision costs some microseconds a job: a week of the EU
	// network takes about 4x as long as without.
	Broker bool
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
	active  bool // started and not yet ended
	timeout bool
	requeue bool   // preempted: the run ends early and the job waits again
	gen     uint32 // bumped when taken out of the end heap early
	cls     *ClassResult
}

// Replay drives the engine over the job stream in virtual time: arrivals
// become Submitted events, Step's Start intents become runs that end after
// the job's duration (or its walltime), site outages take sites down and
// end or requeue the jobs there. It returns the policy's results.
func Replay(cfg ReplayConfig) (*PolicyResult, error) {
	ecfg, err := PolicyConfig(cfg.Policy, cfg.OrgKind, cfg.Mix)
	if err != nil {
		return nil, err
	}
	var wallStart time.Time
	if cfg.Clock != nil {
		wallStart = cfg.Clock()
	}
	var eng scheduler = engine.New(ecfg, cfg.Sites)
	if cfg.Broker {
		eng = engine.NewFederation(ecfg, engine.Routing{WinnerOnly: true}, cfg.Sites)
	}
	st := newStats(cfg.Sites, cfg.Policy)

	if len(cfg.Sites) > maxReplaySites {
		return nil, fmt.Errorf("replay: %d sites, at most %d", len(cfg.Sites), maxReplaySites)
	}
	siteIdx := map[string]int{}
	for i, s := range cfg.Sites {
		siteIdx[s.ID] = i
	}
	outs, err := outageEvents(cfg.Outages, siteIdx)
	if err != nil {
		return nil, err
	}
	sample := cfg.Sample
	if sample <= 0 {
		sample = max(cfg.Horizon/400, time.Minute)
	}

	var (
		now  time.Duration
		ends = newEndQueue()
		// One event of each hot kind, reused: applied by pointer, they
		// are not boxed (copied to the heap) once per job.
		evSubmitted engine.Submitted
		evStarted   engine.Started
		evEnded     engine.Ended
		// waiting holds the jobs not running; a running job is reached
		// through its entry in ends (a map entry per running job cost a
		// lookup, an insert and a delete per job, on a map of 160,000).
		waiting = map[core.JobID]*running{}
		// fresh holds the jobs that arrived since the last pass, by id
		// from freshBase (ids are handed out in order): most start at the
		// next pass and so never need an entry in waiting.
		fresh     []*running
		freshBase core.JobID = 1
		nWaiting  int
		nActive   int
		nextID    core.JobID
		next      Arrival
		haveNext  bool
		wake      time.Duration = -1
		idle      int
		lastStep  time.Duration = -1
		needStep  bool
		nextSamp  time.Duration
		nextProg  time.Duration
		// free holds run records no longer needed (the job ended or, in
		// the lean mode, started), for the next arrivals (take): the
		// record touched last is still in cache, and a month of the EU
		// network would otherwise allocate 32 million.
		free []*running
		// ending and ids hold the runs that end at one time, and their
		// ids for the engine's Warm.
		ending []endEntry
		ids    []core.JobID
		// arriving holds the arrivals due at one time, taken from the
		// stream before the ends are applied so that their table slots
		// are warmed with the ends'.
		arriving []Arrival
		// sink takes what the warm-ups read, so that no read is dropped.
		sink uint64
	)
	nowT := Epoch // Epoch + now, made once per time
	warm, canWarm := eng.(warmer)
	pull := func() error {
		a, err := cfg.Jobs.Next()
		if err == io.EOF {
			haveNext = false
			return nil
		}
		if err != nil {
			return err
		}
		if haveNext && a.Submit < next.Submit {
			return fmt.Errorf("replay: arrivals out of order (%v after %v)", a.Submit, next.Submit)
		}
		next, haveNext = a, true
		return nil
	}
	if err := pull(); err != nil {
		return nil, err
	}
	take := func() *running {
		n := len(free)
		if n == 0 {
			return &running{}
		}
		r := free[n-1]
		free[n-1] = nil
		free = free[:n-1]
		return r
	}
	recycle := func(r *running) {
		if len(free) < 4096 {
			// Keep gen moving: an end queue entry left stale by an
			// early removal must stay stale for the next job.
			*r = running{gen: r.gen + 1}
			free = append(free, r)
		}
	}
	// keep: the end queue keeps each run's record, for what needs it
	// after the start: taking runs out early (outages, preemption, the
	// broker's requeues) and jobs.csv. Otherwise a record is reused as
	// soon as its job starts, and an end touches only its queue entry.
	keep := cfg.JobsOut != nil || len(outs) > 0 || cfg.Broker || ecfg.Preemption.Enabled
	finish := func(e *endEntry, state core.State, requeue bool) {
		evEnded = engine.Ended{ID: e.id, State: state, At: nowT, Requeue: requeue}
		eng.Apply(&evEnded)
		st.events++
		nActive--
		st.released(e, now)
		r := e.r
		if requeue {
			// Only kept runs are requeued (keep covers every source).
			r.active = false
			nWaiting++
			waiting[r.id] = r
			st.requeued(r)
			return
		}
		st.ended(e, now, state, cfg.JobsOut, r)
		if r != nil {
			recycle(r)
		}
	}
	// In the lean mode (!keep) the starts come apart from the other
	// intents (engine.Engine.SplitStarts): no Start is boxed into an
	// Intent, one allocation per job less. The other intents cannot
	// occur then, so their order relative to the starts is moot.
	split, canSplit := eng.(starter)
	canSplit = canSplit && !keep
	if canSplit {
		split.SplitStarts()
		// Nothing keeps an allocation past its job's start either.
		split.ReuseAllocations()
	}
	// startRun carries out a Start: the job's run begins now.
	startRun := func(in *engine.Start) error {
		var r *running
		if k := in.ID - freshBase; k >= 0 && k < core.JobID(len(fresh)) {
			r, fresh[k] = fresh[k], nil
		}
		if r == nil {
			if r = waiting[in.ID]; r != nil {
				delete(waiting, in.ID)
			}
		}
		if r == nil || r.active {
			return fmt.Errorf("replay: engine started unknown job %d", in.ID)
		}
		nWaiting--
		a := r.arr
		site, ok := siteIdx[in.Alloc.Site]
		if !ok {
			return fmt.Errorf("replay: engine started job %d on unknown site %q", in.ID, in.Alloc.Site)
		}
		run, timeout := a.runFor()
		r.start, r.end, r.site, r.timeout, r.requeue = now, now+run, site, timeout, false
		r.active = true
		nActive++
		ends.push(r, keep)
		evStarted = engine.Started{ID: in.ID, Alloc: in.Alloc, At: nowT}
		eng.Apply(&evStarted)
		st.events++
		st.started(r, now)
		if !keep {
			recycle(r)
		}
		return nil
	}

	for {
		// The next thing to happen.
		t := time.Duration(-1)
		consider := func(c time.Duration) {
			if c >= 0 && (t < 0 || c < t) {
				t = c
			}
		}
		if haveNext {
			consider(next.Submit)
		}
		if e, ok := ends.peek(); ok {
			consider(e.end)
		}
		if len(outs) > 0 {
			consider(outs[0].at)
		}
		if wake > now && idle < 2 {
			// Only a wake-up is left when nothing arrives, runs or
			// changes: allow two idle passes (reservations may start
			// jobs), then stop rather than tick forever.
			consider(wake)
		}
		if needStep && cfg.Tick > 0 && lastStep >= 0 {
			consider(lastStep + cfg.Tick)
		}
		if t < 0 || (cfg.Horizon > 0 && t > cfg.Horizon) {
			break
		}
		for nextSamp <= t {
			st.sample(nextSamp, eng, nWaiting)
			nextSamp += sample
		}
		st.advance(t)
		now = t
		nowT = Epoch.Add(now)
		if cfg.Progress != nil && now >= nextProg {
			cfg.Progress(now)
			nextProg = now + sample
		}

		// 1. Runs that end now: taken out first, so that the engine can
		// read what their ends need in one go (warm).
		ending = ending[:0]
		for {
			e, ok := ends.peek()
			if !ok || e.end > now {
				break
			}
			ending = append(ending, ends.pop())
		}
		arriving = arriving[:0]
		for haveNext && next.Submit <= now {
			arriving = append(arriving, next)
			if err := pull(); err != nil {
				return nil, err
			}
		}
		if canWarm && len(ending)+len(arriving) > 1 {
			// The ends' records, nodes and histogram counts, and the
			// arrivals' slots in the engine's job table: read level by
			// level, so that their misses overlap (engine.Engine.Warm).
			ids = ids[:0]
			for i := range ending {
				ids = append(ids, ending[i].id)
				sink += st.warm(&ending[i], now)
			}
			for i := range arriving {
				ids = append(ids, nextID+1+core.JobID(i))
			}
			sink += warm.Warm(ids)
		}
		for i := range ending {
			x := &ending[i]
			state := core.StateCompleted
			if x.timeout {
				state = core.StateTimeout
			}
			finish(x, state, x.requeue)
		}
		// 2. Sites that go down or come back.
		for len(outs) > 0 && outs[0].at <= now {
			o := outs[0]
			outs = outs[1:]
			state := core.SiteActive
			if o.down {
				state = core.SiteDown
			}
			eng.Apply(engine.SiteChanged{Site: cfg.Sites[o.site].ID, State: state})
			st.events++
			// With the broker, the federation requeues the site's jobs
			// (Requeue intents at the next pass), as live.
			if o.down && !cfg.Broker {
				var lost []*running
				for _, r := range ends.runs() {
					if r.active && r.site == o.site {
						lost = append(lost, r)
					}
				}
				slices.SortFunc(lost, func(a, b *running) int { return cmp.Compare(a.id, b.id) })
				for _, r := range lost {
					ends.remove(r)
					requeue := r.arr.Preemptible
					st.lost++
					x := entryOf(r, true)
					finish(&x, core.StateFailed, requeue)
				}
			}
		}
		// 3. Arrivals.
		for _, a := range arriving {
			nextID++
			r := take()
			r.id, r.arr, r.cls = nextID, a, st.submitted(a)
			fresh = append(fresh, r)
			nWaiting++
			evSubmitted.Job = coreJob(nextID, a)
			eng.Apply(&evSubmitted)
			st.events++
		}
		// 4. A scheduling pass, at most one per Tick.
		needStep = true
		if cfg.Tick > 0 && lastStep >= 0 && now < lastStep+cfg.Tick {
			continue
		}
		needStep, lastStep = false, now
		if !haveNext && ends.Len() == 0 && len(outs) == 0 {
			idle++
		} else {
			idle = 0
		}
		intents, w := eng.Step(nowT)
		var starts []engine.Start
		if canSplit {
			starts = split.Starts()
		}
		if len(intents) > 0 || len(starts) > 0 {
			idle = 0
		}
		st.steps++
		wake = -1
		if !w.IsZero() {
			wake = w.Sub(Epoch)
		}
		// runningJob finds a running job by id for a Requeue or Preempt
		// (rare: the index is built from the end queue on first use).
		var active map[core.JobID]*running
		runningJob := func(id core.JobID) *running {
			if active == nil {
				active = map[core.JobID]*running{}
				for _, r := range ends.runs() {
					active[r.id] = r
				}
			}
			if r := active[id]; r != nil && r.active {
				return r
			}
			return nil
		}
		for _, in := range intents {
			switch in := in.(type) {
			case engine.Start:
				if err := startRun(&in); err != nil {
					return nil, err
				}
			case engine.Requeue:
				// The site went down: the run is lost, the job waits
				// again and the broker routes it elsewhere.
				if !keep {
					return nil, fmt.Errorf("replay: requeue of job %d, but runs are not kept", in.ID)
				}
				if r := runningJob(in.ID); r != nil {
					ends.remove(r)
					st.lost++
					x := entryOf(r, true)
					finish(&x, core.StateFailed, true)
				}
			case engine.Preempt:
				// Stopped after the grace period; the run is lost and the
				// job waits again.
				if !keep {
					return nil, fmt.Errorf("replay: preemption of job %d, but runs are not kept", in.ID)
				}
				if r := runningJob(in.ID); r != nil {
					ends.remove(r)
					r.end, r.timeout, r.requeue = now+in.Grace, false, true
					ends.push(r, true)
					st.preempted++
				}
			}
		}
		if len(starts) > 1 {
			// Each start writes an end queue entry to a line that has
			// left the cache: read those lines first, all together.
			for i := range starts {
				if k := starts[i].ID - freshBase; k >= 0 && k < core.JobID(len(fresh)) && fresh[k] != nil {
					run, _ := fresh[k].arr.runFor()
					sink += ends.warm(now + run)
				}
			}
		}
		for i := range starts {
			if err := startRun(&starts[i]); err != nil {
				return nil, err
			}
		}
		for _, r := range fresh {
			if r != nil {
				waiting[r.id] = r
			}
		}
		clear(fresh)
		fresh, freshBase = fresh[:0], nextID+1
	}
	end := now
	if cfg.Horizon > 0 {
		end = cfg.Horizon
	}
	st.advance(end)
	st.sample(end, eng, nWaiting)
	st.res.Unfinished = nWaiting + nActive
	warmSink.Add(sink)
	st.finish(end)
	if cfg.Clock != nil {
		st.res.WallSeconds = cfg.Clock().Sub(wallStart).Seconds()
		if st.res.WallSeconds > 0 {
			st.res.EventsPerSecond = float64(st.events) / st.res.WallSeconds
		}
	}
	return st.res, nil
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
			QoS: qos, Preemptible: a.Preemptible, Residency: a.Residency,
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
