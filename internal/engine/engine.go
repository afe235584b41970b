package engine

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Config tunes the engine. The zero value is usable: FIFO order by id,
// first fit, 24 h assumed walltime.
type Config struct {
	// DefaultWalltime bounds jobs that give none, for backfill and
	// estimated starts. 0 = 24h.
	DefaultWalltime time.Duration
}

func (c Config) walltime() time.Duration {
	if c.DefaultWalltime > 0 {
		return c.DefaultWalltime
	}
	return 24 * time.Hour
}

// Engine is the scheduling state machine. It is not safe for concurrent
// use: one goroutine of the shell owns it.
type Engine struct {
	cfg     Config
	cluster *sched.Cluster
	err     error // from building the cluster; reported as every job's reason
	jobs    map[core.JobID]*job
	pending []*job // priority order after a pass; new jobs appended
	sorted  bool
	now     time.Time
}

// job is the engine's record of one job.
type job struct {
	core.Job
	req    sched.Request
	pools  []int // eligible pools; nil = not computed
	placed bool  // holds pl on the cluster
	pl     sched.Placement
	start  time.Time
	prio   float64
	miss   sched.Miss // why it waits, as data; rendered by Status
	reason string     // overrides miss when set (configuration errors)
	extra  []string
}

// New returns an engine over sites, all capacity free. A site whose pools
// cannot be modelled makes every job wait with that error as its reason.
func New(cfg Config, sites []core.Site) *Engine {
	cl, err := sched.NewCluster(sites)
	if err != nil {
		cl, _ = sched.NewCluster(nil)
	}
	return &Engine{cfg: cfg, cluster: cl, err: err, jobs: map[core.JobID]*job{}}
}

// Cluster exposes the capacity picture, read-only by convention, for
// reports and tests.
func (e *Engine) Cluster() *sched.Cluster { return e.cluster }

// Apply feeds one event into the engine.
func (e *Engine) Apply(ev Event) {
	switch ev := ev.(type) {
	case Submitted:
		e.submit(ev.Job)
	case Started:
		e.started(ev)
	case Ended:
		e.ended(ev.ID, ev.State, ev.At, ev.Requeue)
	case Cancelled:
		e.ended(ev.ID, core.StateCancelled, ev.At, false)
	case SiteChanged:
		for _, s := range e.cluster.Sites {
			if s.ID == ev.Site {
				s.State = ev.State
			}
		}
		for _, j := range e.pending {
			j.pools = nil
		}
	}
}

func (e *Engine) submit(cj core.Job) {
	if old, ok := e.jobs[cj.ID]; ok {
		// A resubmission of a known job refreshes its spec while pending.
		if old.State == core.StatePending {
			old.Job = cj
			old.State = core.StatePending
			old.req, old.pools = sched.RequestOf(cj.Spec), nil
			e.sorted = false
		}
		return
	}
	j := &job{Job: cj, req: sched.RequestOf(cj.Spec)}
	e.jobs[cj.ID] = j
	if cj.State.Active() && cj.Alloc != nil {
		// Reloaded at restart while running: hold its resources.
		at := cj.SubmitTime
		if cj.StartTime != nil {
			at = *cj.StartTime
		}
		e.started(Started{ID: cj.ID, Alloc: *cj.Alloc, At: at})
		return
	}
	j.State = core.StatePending
	e.pending = append(e.pending, j)
	e.sorted = false
}

func (e *Engine) started(ev Started) {
	j, ok := e.jobs[ev.ID]
	if !ok {
		j = &job{Job: core.Job{ID: ev.ID, State: core.StateRunning}}
		j.req = sched.Request{Milli: ev.Alloc.Accelerators()}
		e.jobs[ev.ID] = j
	}
	pl, err := e.cluster.FromAllocation(ev.Alloc)
	if err != nil {
		// The site holds resources the engine cannot model; keep the job
		// as running without a placement rather than drop the event.
		j.reason = err.Error()
	}
	if j.placed && !samePlacement(j.pl, pl) {
		e.cluster.Release(&j.pl)
		j.placed = false
	}
	if !j.placed && err == nil {
		e.cluster.Commit(&pl)
		j.pl, j.placed = pl, true
	}
	if j.State == core.StatePending {
		e.removePending(j)
	}
	j.State = core.StateRunning
	if j.start.IsZero() || !ev.At.IsZero() {
		j.start = ev.At
	}
	alloc := ev.Alloc
	j.Alloc = &alloc
}

func samePlacement(a, b sched.Placement) bool {
	return a.Pool == b.Pool && slices.EqualFunc(a.Nodes, b.Nodes, func(x, y sched.NodeShare) bool {
		return x.Node == y.Node && x.Mask == y.Mask && x.Milli == y.Milli
	})
}

func (e *Engine) ended(id core.JobID, st core.State, at time.Time, requeue bool) {
	j, ok := e.jobs[id]
	if !ok {
		return
	}
	if j.placed {
		e.cluster.Release(&j.pl)
		j.placed = false
		j.pl = sched.Placement{}
	}
	if j.State == core.StatePending {
		if requeue {
			return
		}
		e.removePending(j)
		delete(e.jobs, id)
		return
	}
	if requeue {
		j.State = core.StatePending
		j.Alloc = nil
		j.start = time.Time{}
		e.pending = append(e.pending, j)
		e.sorted = false
		return
	}
	delete(e.jobs, id)
}

func (e *Engine) removePending(j *job) {
	if i := slices.Index(e.pending, j); i >= 0 {
		e.pending = slices.Delete(e.pending, i, i+1)
	}
}

// order sorts the pending jobs by priority, then id.
func (e *Engine) order() {
	if e.sorted {
		return
	}
	slices.SortStableFunc(e.pending, func(a, b *job) int {
		if a.prio != b.prio {
			return cmp.Compare(b.prio, a.prio)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	e.sorted = true
}

// Step runs a scheduling pass at now and returns the intents to carry out
// and when the engine next wants a Step (zero: only on the next event).
func (e *Engine) Step(now time.Time) (intents []Intent, next time.Time) {
	e.now = now
	e.order()
	started := 0
	kept := e.pending[:0]
	for rank, j := range e.pending {
		j.extra = nil
		if e.err != nil {
			j.reason = e.err.Error()
			kept = append(kept, j)
			continue
		}
		if j.pools == nil {
			j.pools = e.cluster.Eligible(&j.req)
		}
		pl, miss := e.cluster.Place(&j.req, j.pools)
		if miss.Code != sched.MissNone {
			j.miss = miss
			if ahead := rank - started; ahead > 0 {
				j.extra = []string{fmt.Sprintf("behind %d %s of higher priority", ahead, plural(ahead, "job", "jobs"))}
			}
			kept = append(kept, j)
			continue
		}
		e.cluster.Commit(&pl)
		j.pl, j.placed = pl, true
		j.State = core.StateStarting
		j.start = now
		j.miss = sched.Miss{}
		alloc := e.cluster.Allocation(&pl)
		j.Alloc = &alloc
		intents = append(intents, Start{ID: j.ID, Alloc: alloc})
		started++
	}
	clear(e.pending[len(kept):])
	e.pending = kept
	return intents, time.Time{}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Status reports a job the engine knows: why a pending job waits, or that
// an active one holds resources.
func (e *Engine) Status(id core.JobID) (Status, bool) {
	j, ok := e.jobs[id]
	if !ok {
		return Status{}, false
	}
	return e.status(j), true
}

func (e *Engine) status(j *job) Status {
	s := Status{ID: j.ID, State: j.State, Priority: j.prio}
	if j.State == core.StatePending {
		s.Reason = j.reason
		if s.Reason == "" && j.miss.Code != sched.MissNone {
			s.Reason = e.cluster.Explain(j.miss, j.pools).String()
		}
		if s.Reason == "" {
			s.Reason = "not yet considered by the scheduler"
		}
		s.Reasons = append([]string{s.Reason}, j.extra...)
	}
	return s
}

// Pending returns the status of every pending job, highest priority first.
func (e *Engine) Pending() []Status {
	e.order()
	out := make([]Status, len(e.pending))
	for i, j := range e.pending {
		out[i] = e.status(j)
	}
	return out
}
