// Package daemon is the live shell around the pure scheduling engine.
//
// One goroutine (Run) owns the engine. Everything that changes what the
// engine knows reaches it as an event through that goroutine: submissions
// (made durable in the store first, by the caller's goroutine, with group
// commit), cancellations, and the state changes the site drivers report.
// Each turn of the loop applies the queued events, polls the drivers, runs
// one engine Step with the real clock and carries out the intents it
// returns: record the placement, then start the job on its site's driver.
//
//	API ──Submit──▶ store (durable) ──event──▶ ┌──────────── loop ────────────┐
//	API ──Cancel────────────────────────────▶ │ Apply(events) → Step(now)    │──▶ driver.Start/Cancel
//	drivers ──Poll updates────────────────────▶ │ → intents → store → driver   │
//	                                            └──────────────────────────────┘
//
// At start, Recover reloads every unfinished job: pending jobs wait again;
// jobs that were starting or running are re-adopted through the driver or,
// when they can no longer be followed, failed with reason "controller
// restarted" and requeued when their spec allows it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/gigafactory/gigafactory/internal/award"
	"io"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/meter"
	"github.com/gigafactory/gigafactory/internal/metrics"
	"github.com/gigafactory/gigafactory/internal/store"
)

// ReasonRestarted is the reason given to a job whose run was lost because the
// controller restarted and the driver could not re-adopt it.
const ReasonRestarted = "controller restarted"

// Options configure a Daemon.
type Options struct {
	Store   *store.DB
	Sites   []core.Site
	Drivers map[string]driver.Driver // by site id
	Engine  engine.Config
	// Routing configures the federation broker that picks each job's site.
	Routing engine.Routing
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// PollEvery is how often drivers are polled; default 200ms.
	PollEvery time.Duration
	// StepGap is the least time between two scheduling passes; default 5ms.
	StepGap time.Duration
	// StartRetries is how many times in a row a job's start may fail for
	// its site's fault (driver.Transient: the site unreachable, timing
	// out, answering 5xx) and be retried before the job fails with the
	// last error as its reason; default DefaultStartRetries. A start that
	// fails for the job's own fault (driver.Transient false) fails the job
	// at once and never backs the site off.
	StartRetries int
	Logger       *slog.Logger
	// Awards returns every award (the store's); nil: no project is
	// limited by an award. ExchangeRates normalise their hours across
	// accelerator models (config exchange_rates).
	Awards        func(context.Context) ([]core.Award, error)
	ExchangeRates map[string]float64
	// CanonicalModel names a model as ExchangeRates' keys do
	// (config.CanonicalModel); nil: models are compared as written.
	CanonicalModel func(string) string
	// Meter is how each run's meter is computed (utilisation, co-funding
	// policy); the zero value uses meter's defaults.
	Meter meter.Config
}

// DefaultStartRetries is Options.StartRetries when left 0: with the
// site's backoff doubling from 2 s, about a minute of the site failing.
const DefaultStartRetries = 5

// Daemon drives the engine with the real clock, the store and the drivers.
type Daemon struct {
	st      *store.DB
	siteMu  sync.Mutex
	sites   []core.Site
	drivers map[string]driver.Driver
	clock   func() time.Time
	poll    time.Duration
	gap     time.Duration
	retries int
	log     *slog.Logger

	eng      *engine.Federation // owned by the loop goroutine
	orgKinds map[string]string  // org kinds for meters (the engine has its own); loop goroutine only
	meterCfg meter.Config

	mu    sync.Mutex
	queue []engine.Event
	wake  chan struct{}
	calls chan call

	// Owned by the loop goroutine.
	active     map[core.JobID]core.Job // starting or running jobs
	preempting map[core.JobID]preemption
	// unreachable holds sites whose driver failed transiently: the engine
	// sees them as draining until the backoff ends.
	unreachable map[string]*backoff
	// startFails counts, per job, the starts in a row that failed for the
	// site's fault; the job fails once they exceed the retries.
	startFails map[core.JobID]int
	// unadopted holds, per site, running jobs whose adoption failed
	// transiently at restart; adoption is retried until it answers.
	unadopted map[string][]core.Job
	lastAdopt time.Time
	// gate holds pending jobs back from the engine: dependencies, begin
	// times, array throttles (gate.go); awards, spent or expired, too
	// (awards.go).
	gate   *gate
	awards *awardBook
	// halfLife is fair share's; Recover charges the use of runs that
	// ended within a few of them.
	halfLife time.Duration

	ready   atomic.Bool
	metrics Metrics

	// opts rebuild the loop's state when this controller becomes the
	// leader again; elect is its leadership among several (leader.go).
	opts  Options
	elect election
}

type backoff struct {
	until time.Time     // zero once the site was given back to the engine
	wait  time.Duration // the current backoff, doubled on each failure
}

type preemption struct {
	deadline time.Time
	killed   bool
}

// call is a function the loop runs on behalf of another goroutine, so that
// engine state is only ever touched by the loop.
type call struct {
	fn   func(ctx context.Context)
	done chan struct{}
	// refused is set, before done closes, when fn did not run because
	// this controller does not lead (leader.go).
	refused *bool
}

// Metrics are the daemon's counters, read by the /metrics endpoint.
type Metrics struct {
	Submitted atomic.Int64
	Started   atomic.Int64
	Ended     sync.Map // core.State -> *atomic.Int64
	StepNanos atomic.Int64
	Steps     atomic.Int64
	// StepSeconds is the scheduling passes' duration histogram.
	StepSeconds *metrics.Histogram
	driverErrs  driverErrors
}

// EndedCount reports how many jobs ended in state s.
func (m *Metrics) EndedCount(s core.State) int64 {
	if v, ok := m.Ended.Load(s); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (m *Metrics) ended(s core.State) {
	v, _ := m.Ended.LoadOrStore(s, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// New returns a daemon; call Recover, then Run.
func New(o Options) (*Daemon, error) {
	if o.Store == nil {
		return nil, errors.New("daemon: no store")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 200 * time.Millisecond
	}
	if o.StepGap <= 0 {
		o.StepGap = 5 * time.Millisecond
	}
	if o.StartRetries < 0 {
		return nil, fmt.Errorf("daemon: StartRetries must not be negative, got %d", o.StartRetries)
	}
	if o.StartRetries == 0 {
		o.StartRetries = DefaultStartRetries
	}
	// The daemon has each site's driver enforce the site's default
	// walltime on jobs that give none (see start), so the engine plans
	// with that value at that site too.
	o.Engine.SiteWalltimes = true
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, s := range o.Sites {
		if len(s.Pools) > 0 && o.Drivers[s.ID] == nil {
			return nil, fmt.Errorf("daemon: site %s has no driver", s.ID)
		}
	}
	sites := make([]core.Site, len(o.Sites))
	copy(sites, o.Sites)
	// The engine owns its config's maps: the loop goroutine tells it of
	// organisations and projects by events (OrgKindSet, ProjectBudgetSet),
	// and keeps its own copy of the org kinds for meters.
	o.Engine.FairShare.OrgKind = maps.Clone(o.Engine.FairShare.OrgKind)
	o.Engine.Quotas.ProjectBudgetHours = maps.Clone(o.Engine.Quotas.ProjectBudgetHours)
	orgKinds := maps.Clone(o.Engine.FairShare.OrgKind)
	if orgKinds == nil {
		orgKinds = map[string]string{}
	}
	return &Daemon{
		opts: o,
		st:   o.Store, sites: sites, drivers: o.Drivers, clock: o.Clock, poll: o.PollEvery, gap: o.StepGap, retries: o.StartRetries, log: o.Logger,
		eng:         engine.NewFederation(o.Engine, o.Routing, o.Sites),
		metrics:     Metrics{StepSeconds: metrics.NewHistogram(StepBuckets)},
		orgKinds:    orgKinds,
		meterCfg:    o.Meter,
		wake:        make(chan struct{}, 1),
		calls:       make(chan call),
		active:      map[core.JobID]core.Job{},
		preempting:  map[core.JobID]preemption{},
		unreachable: map[string]*backoff{},
		startFails:  map[core.JobID]int{},
		unadopted:   map[string][]core.Job{},
		gate:        newGate(),
		halfLife:    o.Engine.FairShare.HalfLife,
		awards: &awardBook{rates: award.Rates{By: o.ExchangeRates, Canon: o.CanonicalModel}, source: o.Awards, used: map[string]float64{},
			warned: map[string]bool{}, blocked: map[string]string{}},
	}, nil
}

// Sites returns the federation's sites with their current lifecycle state.
func (d *Daemon) Sites() []core.Site {
	d.siteMu.Lock()
	defer d.siteMu.Unlock()
	out := make([]core.Site, len(d.sites))
	copy(out, d.sites)
	return out
}

// SetSiteState moves a site through its operator lifecycle (active,
// draining, down). The state is kept in the store and survives restarts. A
// draining site receives no new jobs; running ones finish.
func (d *Daemon) SetSiteState(ctx context.Context, id, state string) (core.Site, error) {
	switch state {
	case core.SiteActive, core.SiteDraining, core.SiteDown:
	default:
		return core.Site{}, fmt.Errorf("unknown site state %q", state)
	}
	d.siteMu.Lock()
	idx := -1
	for i := range d.sites {
		if d.sites[i].ID == id {
			idx = i
		}
	}
	d.siteMu.Unlock()
	if idx < 0 {
		return core.Site{}, fmt.Errorf("site %q: %w", id, store.ErrNotFound)
	}
	if err := d.st.SetMeta(ctx, "site_state/"+id, state); err != nil {
		return core.Site{}, err
	}
	d.siteMu.Lock()
	d.sites[idx].State = state
	site := d.sites[idx]
	d.siteMu.Unlock()
	d.enqueue(engine.SiteChanged{Site: id, State: state})
	return site, nil
}

// loadSiteStates restores the operators' site states from the store.
func (d *Daemon) loadSiteStates(ctx context.Context) error {
	for i := range d.sites {
		v, err := d.st.GetMeta(ctx, "site_state/"+d.sites[i].ID)
		if errors.Is(err, store.ErrNotFound) {
			if d.sites[i].State == "" {
				d.sites[i].State = core.SiteActive
			}
			continue
		}
		if err != nil {
			return err
		}
		d.sites[i].State = v
		d.eng.Apply(engine.SiteChanged{Site: d.sites[i].ID, State: v})
	}
	return nil
}

// Metrics exposes the daemon's counters.
func (d *Daemon) Metrics() *Metrics { return &d.metrics }

// Ready reports whether recovery is done and the loop runs.
func (d *Daemon) Ready() bool { return d.ready.Load() }

// Store returns the daemon's store.
func (d *Daemon) Store() *store.DB { return d.st }

func (d *Daemon) enqueue(evs ...engine.Event) {
	d.mu.Lock()
	d.queue = append(d.queue, evs...)
	d.mu.Unlock()
	d.kick()
}

func (d *Daemon) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// do runs fn on the loop goroutine and waits for it.
func (d *Daemon) do(ctx context.Context, fn func(ctx context.Context)) error {
	if d.following() {
		return ErrNotLeader
	}
	c := call{fn: fn, done: make(chan struct{}), refused: new(bool)}
	select {
	case d.calls <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.done:
		if *c.refused {
			return ErrNotLeader
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Submit makes jobs durable, with their audit entry, then hands the new
// ones to the scheduler. It
// returns the stored jobs and, per job, whether it was new (false for an
// idempotent retry).
func (d *Daemon) Submit(ctx context.Context, jobs []core.Job) ([]core.Job, []bool, error) {
	now := d.clock().UTC()
	for i := range jobs {
		jobs[i].State = core.StatePending
		jobs[i].SubmitTime = now
		jobs[i].UpdateTime = now
		if jobs[i].Name == "" {
			jobs[i].Name = jobs[i].Spec.Name
		}
	}
	// The audit entry commits in the same transaction as the jobs.
	stored, created, err := d.st.SubmitJobsAudited(ctx, jobs, store.AuditEntry{Actor: jobs[0].User, Action: "job.submit", Detail: "project " + jobs[0].Project})
	if err != nil {
		return nil, nil, err
	}
	evs := make([]engine.Event, 0, len(stored))
	for i, j := range stored {
		if created[i] {
			evs = append(evs, engine.Submitted{Job: j})
		}
	}
	d.metrics.Submitted.Add(int64(len(evs)))
	d.logSubmitted(stored, created)
	// A follower leaves them in the store, where the leader finds them.
	if len(evs) > 0 && !d.following() {
		d.enqueue(evs...)
	}
	return stored, created, nil
}

// ErrConflict is returned when an operation does not fit the job's state.
var ErrConflict = errors.New("conflict")

// Cancel cancels a job: a pending job at once, an active one through its
// driver (its final state arrives when the driver reports it).
func (d *Daemon) Cancel(ctx context.Context, id core.JobID, actor string) (core.Job, error) {
	return d.CancelAudited(ctx, id, actor, nil)
}

// CancelAudited is Cancel with the audit entry of the request, which
// commits in the same transaction as the job's change (cancelled, or its
// cancel requested); no change, no entry (store.AuditWritten says which).
func (d *Daemon) CancelAudited(ctx context.Context, id core.JobID, actor string, entry *store.AuditEntry) (core.Job, error) {
	if d.following() {
		return d.cancelFollowing(ctx, id, actor, entry)
	}
	var out core.Job
	var err error
	derr := d.do(ctx, func(loop context.Context) {
		wctx := loop
		if entry != nil {
			wctx = store.WithAudit(loop, *entry)
		}
		out, err = d.cancel(loop, wctx, id, actor)
	})
	if derr != nil {
		return core.Job{}, derr
	}
	return out, err
}

func (d *Daemon) cancel(ctx, wctx context.Context, id core.JobID, actor string) (core.Job, error) {
	j, err := d.st.GetJob(ctx, id)
	if err != nil {
		return core.Job{}, err
	}
	if j.State.Terminal() {
		return j, nil
	}
	d.applyQueued(ctx) // the job may still sit in the queue
	now := d.clock().UTC()
	msg := "cancelled by " + actor
	if j.State == core.StatePending {
		from := j.State
		j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateCancelled, msg, &now, now
		ok, err := d.st.UpdateJobIf(wctx, j, from, core.Event{JobID: id, Time: now, Type: "cancelled", State: j.State, Message: msg})
		if err != nil {
			return core.Job{}, err
		}
		if !ok {
			return d.st.GetJob(ctx, id)
		}
		d.eng.Apply(engine.Cancelled{ID: id, At: now})
		d.logJob("job cancelled", j, "by", actor)
		delete(d.startFails, id)
		d.metrics.ended(core.StateCancelled)
		d.changed(ctx, j)
		d.kick()
		return j, nil
	}
	drv := d.drivers[j.Site]
	if drv == nil {
		return core.Job{}, fmt.Errorf("cancel job %d: site %q has no driver", id, j.Site)
	}
	if err := d.st.CheckFence(ctx); err != nil {
		return core.Job{}, fmt.Errorf("cancel job %d: %w", id, err)
	}
	if err := drv.Cancel(ctx, j); err != nil {
		return core.Job{}, fmt.Errorf("cancel job %d on %s: %w", id, j.Site, err)
	}
	j.Reason = msg
	j.UpdateTime = now
	if err := d.st.UpdateJob(wctx, j, core.Event{JobID: id, Time: now, Type: "cancel-requested", State: j.State, Message: msg}); err != nil {
		return core.Job{}, err
	}
	d.logJob("job cancel requested", j, "by", actor)
	if a, ok := d.active[id]; ok {
		a.Reason = msg
		d.active[id] = a
	}
	return j, nil
}

// OrgChanged tells the scheduler an organisation's kind (its fair-share
// class).
func (d *Daemon) OrgChanged(ctx context.Context, o core.Org) error {
	return d.notify(ctx, func(context.Context) { d.setOrgKind(o) })
}

// ProjectChanged tells the scheduler a project's accelerator-hour budget.
func (d *Daemon) ProjectChanged(ctx context.Context, p core.Project) error {
	return d.notify(ctx, func(context.Context) { d.setBudget(p) })
}

// setOrgKind records an organisation's kind, for meters and the engine.
func (d *Daemon) setOrgKind(o core.Org) {
	d.orgKinds[o.Name] = o.Kind
	d.eng.Apply(engine.OrgKindSet{Org: o.Name, Kind: o.Kind})
}

// setBudget tells the engine a project's budget (none when not positive).
func (d *Daemon) setBudget(p core.Project) {
	d.eng.Apply(engine.ProjectBudgetSet{Project: p.Name, Hours: p.BudgetAccelHrs})
}

// Statuses returns the engine's view (reason, estimated start, priority)
// of the given jobs; unknown ids are left out.
func (d *Daemon) Statuses(ctx context.Context, ids []core.JobID) (map[core.JobID]engine.Status, error) {
	out := make(map[core.JobID]engine.Status, len(ids))
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		for _, id := range ids {
			if s, ok := d.eng.Status(id); ok {
				out[id] = s
			} else if s, ok := d.gate.status(id); ok {
				out[id] = s
			}
		}
	})
	return out, err
}

// Explain returns the engine's full explanation of a job.
func (d *Daemon) Explain(ctx context.Context, id core.JobID) (Explanation, error) {
	var out Explanation
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		out = explain(d.eng, id, d.clock())
		if st, ok := d.gate.explain(id); ok && !out.Known {
			out = Explanation{ID: id, Known: true, Status: &st}
		}
	})
	return out, err
}

// Usage reports accelerators in use and pending jobs, for metrics.
type Usage struct {
	Pending   int
	Active    int
	InUse     core.Milli
	Capacity  int
	StepsDone int64
}

// Usage reports the current load.
func (d *Daemon) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		u.Pending = d.eng.PendingCount() + len(d.gate.held)
		u.Active = len(d.active)
		for _, j := range d.active {
			u.InUse += j.Alloc.Accelerators()
		}
		for _, s := range d.sites {
			u.Capacity += s.Totals()
		}
	})
	return u, err
}

// Logs opens a job's output through its site's driver.
func (d *Daemon) Logs(ctx context.Context, j core.Job, stream string) (io.ReadCloser, error) {
	drv := d.drivers[j.Site]
	lr, ok := drv.(driver.LogReader)
	if !ok {
		return nil, fmt.Errorf("site %q keeps no logs for gf", j.Site)
	}
	return lr.Logs(ctx, j, stream)
}

// Recover reloads every unfinished job after a (re)start. It must run
// before Run and before the API accepts requests.
func (d *Daemon) Recover(ctx context.Context) error {
	if err := d.loadSiteStates(ctx); err != nil {
		return fmt.Errorf("recover site states: %w", err)
	}
	if err := d.loadReservations(ctx); err != nil {
		return err
	}
	orgs, err := d.st.ListOrgs(ctx)
	if err != nil {
		return fmt.Errorf("recover organisations: %w", err)
	}
	for _, o := range orgs {
		d.setOrgKind(o)
	}
	projects, err := d.st.ListProjects(ctx, "")
	if err != nil {
		return fmt.Errorf("recover projects: %w", err)
	}
	for _, p := range projects {
		if p.BudgetAccelHrs > 0 {
			d.setBudget(p)
		}
	}
	jobs, err := d.st.UnfinishedJobs(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := d.loadAwards(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := d.chargeEnded(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	bySite := map[string][]core.Job{}
	for _, j := range jobs {
		if j.State != core.StatePending {
			d.gate.running(j) // counts against its array's throttle
		}
	}
	for _, j := range jobs {
		if j.State == core.StatePending {
			d.admit(ctx, j) // dependencies are decided again, from the store
			continue
		}
		bySite[j.Site] = append(bySite[j.Site], j)
	}
	siteIDs := make([]string, 0, len(bySite))
	for s := range bySite {
		siteIDs = append(siteIDs, s)
	}
	sort.Strings(siteIDs)
	for _, site := range siteIDs {
		list := bySite[site]
		var updates []driver.Update
		if ad, ok := d.drivers[site].(driver.Adopter); ok {
			updates, err = ad.Adopt(ctx, list)
			if err != nil {
				// Not knowing is not losing: hold the jobs' resources and
				// retry the adoption until the site answers.
				d.log.Warn("adopt failed; will retry", "site", site, "jobs", len(list), "err", err)
				for _, j := range list {
					d.holdUnadopted(j)
				}
				d.unadopted[site] = list
				continue
			}
		}
		d.adopted(ctx, list, updates)
	}
	d.log.Info("recovered", "unfinished", len(jobs))
	return nil
}

// holdUnadopted tells the engine a job holds its allocation: while its
// adoption is pending, and once adopted (applying it twice is harmless).
func (d *Daemon) holdUnadopted(j core.Job) {
	d.active[j.ID] = j
	d.eng.Apply(engine.Submitted{Job: j})
	if j.Alloc != nil {
		at := j.SubmitTime
		if j.StartTime != nil {
			at = *j.StartTime
		}
		d.eng.Apply(engine.Started{ID: j.ID, Alloc: *j.Alloc, At: at})
	}
}

// retryAdoption retries, at most every two seconds, the adoption of jobs
// whose site did not answer at restart.
func (d *Daemon) retryAdoption(ctx context.Context) {
	if len(d.unadopted) == 0 || time.Since(d.lastAdopt) < 2*time.Second {
		return
	}
	d.lastAdopt = time.Now()
	for site, list := range d.unadopted {
		ad := d.drivers[site].(driver.Adopter)
		updates, err := ad.Adopt(ctx, list)
		if err != nil {
			d.log.Warn("adopt failed; will retry", "site", site, "err", err)
			continue
		}
		delete(d.unadopted, site)
		d.adopted(ctx, list, updates)
	}
}

// adopted applies what a driver's Adopt said of jobs that were starting or
// running: a followed job holds its allocation again, an ended one is
// recorded, one the driver does not know failed with ReasonRestarted
// (requeued when its spec allows).
func (d *Daemon) adopted(ctx context.Context, list []core.Job, updates []driver.Update) {
	got := map[core.JobID]driver.Update{}
	for _, u := range updates {
		got[u.JobID] = u
	}
	for _, j := range list {
		u, ok := got[j.ID]
		if !ok {
			u = driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed, Reason: ReasonRestarted, Time: d.clock()}
		}
		if u.State == core.StateRunning || u.State == core.StateStarting {
			d.holdUnadopted(j)
			if j.State != core.StateRunning {
				d.handleUpdate(ctx, u)
			}
			continue
		}
		d.finish(ctx, j, u, causeEnded)
	}
}

// siteUnreachable backs off from a site whose driver failed transiently:
// the engine sees it as draining (nothing new goes there; pending jobs may
// be routed elsewhere) until the backoff ends, 2 s doubling to 1 min.
func (d *Daemon) siteUnreachable(site string, err error) {
	b := d.unreachable[site]
	if b == nil {
		b = &backoff{wait: 2 * time.Second}
		d.unreachable[site] = b
	} else if b.until.IsZero() {
		b.wait = min(2*b.wait, time.Minute)
	}
	b.until = d.clock().Add(b.wait)
	d.log.Warn("site unreachable; backing off", "site", site, "for", b.wait, "err", err)
	d.eng.Apply(engine.SiteChanged{Site: site, State: core.SiteDraining})
}

// siteReachable forgets a site's backoff after a successful call.
func (d *Daemon) siteReachable(site string) {
	if b := d.unreachable[site]; b != nil && b.until.IsZero() {
		delete(d.unreachable, site)
	}
}

// endBackoffs gives sites whose backoff ended back to the engine in their
// operator state.
func (d *Daemon) endBackoffs() {
	now := d.clock()
	for site, b := range d.unreachable {
		if b.until.IsZero() || now.Before(b.until) {
			continue
		}
		b.until = time.Time{}
		d.eng.Apply(engine.SiteChanged{Site: site, State: d.siteState(site)})
	}
}

// defaultWalltime is site id's default walltime, 0 when it has none.
func (d *Daemon) defaultWalltime(id string) time.Duration {
	d.siteMu.Lock()
	defer d.siteMu.Unlock()
	for _, s := range d.sites {
		if s.ID == id {
			return time.Duration(s.DefaultWalltime)
		}
	}
	return 0
}

func (d *Daemon) siteState(id string) string {
	d.siteMu.Lock()
	defer d.siteMu.Unlock()
	for _, s := range d.sites {
		if s.ID == id && s.State != "" {
			return s.State
		}
	}
	return core.SiteActive
}

// Run is the loop; it returns when ctx ends.
//
// Scheduling passes are coalesced: however many submissions arrive, the
// engine steps at most once per StepGap, so a burst costs a few passes
// rather than one pass per job.
func (d *Daemon) Run(ctx context.Context) error {
	d.ready.Store(true)
	defer d.ready.Store(false)
	poll := time.NewTicker(d.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastStep, engineNext time.Time
	dirty := true
	for {
		now := time.Now()
		if dirty && now.Sub(lastStep) >= d.gap {
			engineNext = d.turn(ctx)
			lastStep, dirty = now, false
		}
		wake := d.nextWake()
		if !engineNext.IsZero() && (wake.IsZero() || engineNext.Before(wake)) {
			wake = engineNext
		}
		var wait time.Duration
		switch {
		case dirty:
			wait = d.gap - time.Since(lastStep)
		case !wake.IsZero():
			wait = wake.Sub(d.clock())
		default:
			wait = time.Hour
		}
		if wait < 0 {
			wait = 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
			dirty = true
		case <-poll.C:
			if d.pollDrivers(ctx) > 0 {
				dirty = true
			}
			d.tickAwards(ctx)
		case <-timer.C:
			dirty = true
		case c := <-d.calls:
			c.fn(ctx)
			close(c.done)
			dirty = true
		}
	}
}

func (d *Daemon) nextWake() time.Time {
	next := d.gate.nextWake()
	for _, b := range d.unreachable {
		if !b.until.IsZero() && (next.IsZero() || b.until.Before(next)) {
			next = b.until
		}
	}
	for _, p := range d.preempting {
		if !p.killed && (next.IsZero() || p.deadline.Before(next)) {
			next = p.deadline
		}
	}
	return next
}

// applyQueued feeds queued events into the engine.
func (d *Daemon) applyQueued(ctx context.Context) {
	d.mu.Lock()
	q := d.queue
	d.queue = nil
	d.mu.Unlock()
	for _, ev := range q {
		if sub, ok := ev.(engine.Submitted); ok {
			d.admit(ctx, sub.Job) // or held back by the gate
			continue
		}
		d.eng.Apply(ev)
	}
}

// turn applies queued events, runs one engine step and carries out its
// intents. It returns when the engine next wants a step (zero: only on
// the next event).
func (d *Daemon) turn(ctx context.Context) time.Time {
	d.applyQueued(ctx)
	d.wakeHeld(ctx)
	d.endBackoffs()
	now := d.clock()
	t0 := time.Now()
	intents, next := d.eng.Step(now)
	took := time.Since(t0)
	d.metrics.StepNanos.Add(int64(took))
	d.metrics.Steps.Add(1)
	d.metrics.StepSeconds.Observe(took)
	for _, in := range intents {
		switch in := in.(type) {
		case engine.Start:
			d.start(ctx, in)
		case engine.Preempt:
			d.preempt(ctx, in)
		case engine.Requeue:
			d.requeue(ctx, in)
		}
	}
	d.expirePreemptions(ctx)
	return next
}

func (d *Daemon) start(ctx context.Context, in engine.Start) {
	var j core.Job
	_, err := d.persist(ctx, "start: load job", func() (err error) { j, err = d.st.GetJob(ctx, in.ID); return err })
	if err != nil {
		d.log.Error("start: load job", "job", in.ID, "err", err)
		d.eng.Apply(engine.Ended{ID: in.ID, State: core.StateFailed, At: d.clock()})
		return
	}
	if j.State != core.StatePending {
		// Cancelled meanwhile: give the resources back.
		d.eng.Apply(engine.Ended{ID: in.ID, State: j.State, At: d.clock()})
		return
	}
	now := d.clock().UTC()
	alloc := in.Alloc
	j.State, j.Site, j.Alloc, j.Reason, j.UpdateTime = core.StateStarting, alloc.Site, &alloc, "", now
	placed := describeAlloc(alloc) + d.placedBy(ctx)
	if j.Spec.Walltime <= 0 {
		// The site's default, recorded on the job: its driver enforces
		// it, and the engine planned the job with it there.
		if w := d.defaultWalltime(alloc.Site); w > 0 {
			j.Spec.Walltime = core.Duration(w)
			placed += fmt.Sprintf("; walltime %s, the site's default", w)
		}
	}
	var ok bool
	retried, err := d.persist(ctx, "start: record placement", func() (err error) {
		ok, err = d.st.UpdateJobIf(ctx, j, core.StatePending, core.Event{JobID: j.ID, Time: now, Type: "placed", State: j.State, Message: placed})
		return err
	})
	if err == nil && !ok && retried {
		// A try whose answer was lost may have placed it.
		if cur, err := d.st.GetJob(ctx, j.ID); err == nil && cur.State == core.StateStarting && cur.Alloc != nil && describeAlloc(*cur.Alloc) == describeAlloc(alloc) {
			ok = true
		}
	}
	if err != nil && !errors.Is(err, store.ErrFenced) {
		// Still pending in the store: pending again in the engine too
		// (not forgotten), to be placed once the store takes writes.
		d.log.Error("start: record placement", "job", j.ID, "err", err)
		d.eng.Apply(engine.Ended{ID: j.ID, State: core.StatePending, At: now, Requeue: true})
		return
	}
	if err != nil || !ok {
		if err != nil {
			d.log.Error("start: record placement", "job", j.ID, "err", err)
		}
		d.eng.Apply(engine.Ended{ID: j.ID, State: core.StateCancelled, At: now})
		return
	}
	d.logJob("job placed", j, "alloc", placed)
	drv := d.drivers[alloc.Site]
	if drv == nil {
		d.finish(ctx, j, driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed, Reason: "site " + alloc.Site + " has no driver", Time: now}, causeEnded)
		return
	}
	handle, err := drv.Start(ctx, d.forDriver(j))
	if err != nil {
		d.metrics.driverErrs.add(alloc.Site, "start")
	}
	if err != nil && driver.Transient(err) {
		// The site's fault: back off from it and try the job again
		// later, up to the retries.
		d.siteUnreachable(alloc.Site, err)
		n := d.startFails[j.ID] + 1
		if n > d.retries {
			delete(d.startFails, j.ID)
			d.finish(ctx, j, driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed,
				Reason: fmt.Sprintf("could not start: site %s failed %d times in a row (%v)", alloc.Site, n, err), Time: d.clock()}, causeEnded)
			return
		}
		d.startFails[j.ID] = n
		d.finish(ctx, j, driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed,
			Reason: fmt.Sprintf("site %s unreachable (%v); will retry (%d of %d)", alloc.Site, err, n, d.retries), Time: d.clock()}, causeRetry)
		return
	}
	delete(d.startFails, j.ID)
	if err != nil {
		// The job's own fault (an argument list too long, a missing
		// directory, a program that cannot run): it fails alone, and the
		// site, which answered, stays in service.
		d.siteReachable(alloc.Site)
		d.finish(ctx, j, driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed, Reason: "could not start: " + err.Error(), Time: d.clock()}, causeEnded)
		return
	}
	d.siteReachable(alloc.Site)
	j.Handle = handle
	d.active[j.ID] = j
	d.metrics.Started.Add(1)
	if _, err := d.persist(ctx, "start: record handle", func() error {
		return d.st.UpdateJob(ctx, j, core.Event{JobID: j.ID, Time: d.clock().UTC(), Type: "launched", State: j.State, Message: "handle " + handle})
	}); err != nil {
		d.log.Error("start: record handle", "job", j.ID, "err", err)
	}
}

func describeAlloc(a core.Allocation) string {
	s := "on " + a.Site + ":"
	for i, n := range a.Nodes {
		if i == 8 {
			s += fmt.Sprintf(" ... (%d nodes)", len(a.Nodes))
			break
		}
		s += fmt.Sprintf(" %s%v", n.Node, n.Accels)
		if n.Milli > 0 {
			s += fmt.Sprintf("(%s)", n.Milli)
		}
	}
	return s
}

func (d *Daemon) preempt(ctx context.Context, in engine.Preempt) {
	j, ok := d.active[in.ID]
	if !ok {
		return
	}
	if !d.fenceHolds(ctx, "preempt") {
		return
	}
	drv := d.drivers[j.Site]
	now := d.clock()
	if sg, ok := drv.(driver.Signaler); ok && in.Grace > 0 && in.Signal != "" {
		if err := sg.Signal(ctx, j, in.Signal); err == nil {
			d.preempting[j.ID] = preemption{deadline: now.Add(in.Grace)}
			d.record(ctx, j, "preempting", fmt.Sprintf("preempted for job %d: %s sent, stopping in %s", in.For, in.Signal, in.Grace))
			return
		}
	}
	d.preempting[j.ID] = preemption{deadline: now, killed: true}
	d.record(ctx, j, "preempting", fmt.Sprintf("preempted for job %d", in.For))
	if err := drv.Cancel(ctx, j); err != nil {
		d.log.Error("preempt: cancel", "job", j.ID, "err", err)
	}
}

// requeue stops a job whose site failed (if the site still answers) and
// puts it back to pending; the broker then routes it anew. The engine keeps
// counting it as active until the Ended event, so it never runs twice.
func (d *Daemon) requeue(ctx context.Context, in engine.Requeue) {
	j, ok := d.active[in.ID]
	if !ok {
		return
	}
	if !d.fenceHolds(ctx, "requeue") {
		return
	}
	if drv := d.drivers[j.Site]; drv != nil {
		if err := drv.Cancel(ctx, j); err != nil {
			d.log.Warn("requeue: could not stop the job on its failed site", "job", j.ID, "site", j.Site, "err", err)
		}
	}
	reason := in.Reason
	if reason == "" {
		reason = "site " + in.Site + " failed"
	}
	if in.FromCheckpoint {
		reason += "; resumes from its last checkpoint"
	}
	delete(d.preempting, j.ID)
	d.finish(ctx, j, driver.Update{JobID: j.ID, Attempt: j.Attempt, State: core.StateFailed, Reason: reason, Time: d.clock()}, causeSiteDown)
}

func (d *Daemon) expirePreemptions(ctx context.Context) {
	now := d.clock()
	for id, p := range d.preempting {
		if p.killed || now.Before(p.deadline) {
			continue
		}
		j := d.active[id]
		if !d.fenceHolds(ctx, "preempt") {
			return
		}
		if err := d.drivers[j.Site].Cancel(ctx, j); err != nil {
			d.log.Error("preempt: cancel after grace", "job", id, "err", err)
		}
		p.killed = true
		d.preempting[id] = p
	}
}

func (d *Daemon) record(ctx context.Context, j core.Job, typ, msg string) {
	if err := d.st.UpdateJob(ctx, j, core.Event{JobID: j.ID, Time: d.clock().UTC(), Type: typ, State: j.State, Message: msg}); err != nil {
		d.log.Error("record event", "job", j.ID, "type", typ, "err", err)
	}
}

// pollDrivers handles every driver's updates and returns how many there were.
func (d *Daemon) pollDrivers(ctx context.Context) int {
	d.retryAdoption(ctx)
	n := 0
	ids := make([]string, 0, len(d.drivers))
	for id := range d.drivers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ups, err := d.drivers[id].Poll(ctx)
		if err != nil {
			d.metrics.driverErrs.add(id, "poll")
			d.log.Warn("poll failed", "site", id, "err", err)
			continue
		}
		for _, u := range ups {
			d.handleUpdate(ctx, u)
		}
		n += len(ups)
	}
	return n
}

// handleUpdate records one driver update.
func (d *Daemon) handleUpdate(ctx context.Context, u driver.Update) {
	j, ok := d.active[u.JobID]
	if !ok {
		return // an update for a job we no longer follow (already ended)
	}
	if u.Attempt != j.Attempt {
		return
	}
	if u.State == core.StateRunning {
		if j.State == core.StateRunning {
			return
		}
		at := u.Time.UTC()
		if at.IsZero() {
			at = d.clock().UTC()
		}
		j.State, j.StartTime, j.UpdateTime = core.StateRunning, &at, d.clock().UTC()
		if u.Handle != "" {
			j.Handle = u.Handle
		}
		d.active[j.ID] = j
		if j.Alloc != nil {
			d.eng.Apply(engine.Started{ID: j.ID, Alloc: *j.Alloc, At: at})
		}
		if _, err := d.persist(ctx, "record start", func() error {
			return d.st.UpdateJob(ctx, j, core.Event{JobID: j.ID, Time: at, Type: "started", State: j.State, Message: "running on " + j.Site})
		}); err != nil {
			d.log.Error("record start", "job", j.ID, "err", err)
		}
		d.logJob("job started", j)
		d.changed(ctx, j) // after:ID dependencies
		return
	}
	if u.State.Terminal() {
		why := causeEnded
		if _, ok := d.preempting[j.ID]; ok {
			why = causePreempted
		}
		delete(d.preempting, j.ID)
		d.finish(ctx, j, u, why)
	}
}

// cause says why a run ended, which decides whether the job is requeued.
type cause int

const (
	causeEnded     cause = iota // the driver reported an end (requeued only if lost at restart and allowed)
	causePreempted              // preempted for another job: requeued if preemptible or checkpointable
	causeSiteDown               // its site failed: always requeued, the broker routes it anew
	causeRetry                  // its start failed transiently: pending again, same attempt
)

// finish records a job's end and releases its resources. A run that was
// lost, preempted or on a failed site goes back to pending when allowed.
func (d *Daemon) finish(ctx context.Context, j core.Job, u driver.Update, why cause) {
	preempted := why == causePreempted
	now := d.clock().UTC()
	end := u.Time.UTC()
	if u.Time.IsZero() {
		end = now
	}
	if j.StartTime != nil {
		d.chargeRun(j, *j.StartTime, end) // what the run used, preempted or not
	}
	delete(d.active, j.ID)
	lost := u.Reason == ReasonRestarted
	requeue := why == causeSiteDown || why == causeRetry || (preempted || lost) && j.Requeueable()
	if requeue {
		m := d.meterRun(ctx, j, end, "requeued") // before the attempt moves on
		if why != causeRetry {
			d.aiactRun(ctx, j, end, false) // the compute the lost run used
		}
		site := j.Site
		reason := u.Reason
		if preempted {
			reason = "preempted"
		}
		if why != causeRetry {
			reason += "; requeued"
		}
		j.State, j.Reason, j.Alloc, j.Site, j.Handle = core.StatePending, reason, nil, "", ""
		j.StartTime, j.EndTime, j.ExitCode, j.Signal = nil, nil, nil, ""
		if why != causeRetry {
			// A retried start keeps its attempt: the driver finds what the
			// failed call may have submitted by the same tag.
			j.Attempt++
		}
		j.UpdateTime = now
		if _, err := d.persist(ctx, "record requeue", func() error {
			return d.updateJobEnd(ctx, j, core.Event{JobID: j.ID, Time: end, Type: "requeued", State: j.State, Message: reason}, m)
		}); err != nil {
			d.log.Error("record requeue", "job", j.ID, "err", err)
		}
		d.logJob("job requeued", j, "from_site", site, "reason", reason, "attempt", j.Attempt)
		d.eng.Apply(engine.Ended{ID: j.ID, State: core.StatePending, At: end, Requeue: true})
		d.kick()
		return
	}
	st := u.State
	if preempted && st == core.StateCancelled {
		st = core.StateFailed
		u.Reason = "preempted (not requeueable)"
	}
	j.State, j.EndTime, j.UpdateTime = st, &end, now
	j.ExitCode, j.Signal = u.ExitCode, u.Signal
	if u.Reason != "" {
		j.Reason = u.Reason
	} else if st == core.StateCompleted {
		j.Reason = ""
	}
	msg := string(st)
	if j.ExitCode != nil {
		msg += fmt.Sprintf(", exit code %d", *j.ExitCode)
	}
	if j.Signal != "" {
		msg += ", signal " + j.Signal
	}
	if j.Reason != "" {
		msg += ": " + j.Reason
	}
	m := d.meterRun(ctx, j, end, string(st))
	if _, err := d.persist(ctx, "record end", func() error {
		return d.updateJobEnd(ctx, j, core.Event{JobID: j.ID, Time: end, Type: "ended", State: st, Message: msg}, m)
	}); err != nil {
		d.log.Error("record end", "job", j.ID, "err", err)
	}
	d.aiactEnded(ctx, j) // the AI Act ledger (aiact.go)
	attrs := []any{"state", string(st), "reason", j.Reason}
	if j.ExitCode != nil {
		attrs = append(attrs, "exit", *j.ExitCode)
	}
	if j.Signal != "" {
		attrs = append(attrs, "signal", j.Signal)
	}
	d.logJob("job ended", j, attrs...)
	d.eng.Apply(engine.Ended{ID: j.ID, State: st, At: end})
	d.metrics.ended(st)
	d.changed(ctx, j)
	d.kick()
}

// logSubmitted writes the submission's log line: one a job for a single
// job, one for a batch or an array (its count and first and last ids), whose
// jobs are each in the audit log; a line a job cost a twentieth of a batched
// submission's CPU.
func (d *Daemon) logSubmitted(stored []core.Job, created []bool) {
	var first, last *core.Job
	n := 0
	for i := range stored {
		if created[i] {
			if first == nil {
				first = &stored[i]
			}
			last = &stored[i]
			n++
		}
	}
	switch {
	case n == 0:
	case len(stored) == 1:
		d.logJob("job submitted", *first)
	default:
		project := first.Project
		for i := range stored {
			if created[i] && stored[i].Project != project {
				project = "(several)"
				break
			}
		}
		d.log.Info("jobs submitted", "jobs", n, "first", int64(first.ID), "last", int64(last.ID), "user", first.User, "project", project)
	}
}

// logJob writes one line for a job's transition, with the fields every
// such line carries (job, user, project, site) before attrs.
func (d *Daemon) logJob(msg string, j core.Job, attrs ...any) {
	d.log.Info(msg, append([]any{"job", int64(j.ID), "user", j.User, "project", j.Project, "site", j.Site}, attrs...)...)
}
