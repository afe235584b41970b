package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gigafactory/gigafactory/internal/award"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// The award book makes awards what the scheduler obeys (issue 14): a
// project with awards has its jobs charged, in its award's unit-hours at
// the network's exchange rates, to the award valid when they started; at
// 80% the daemon records a warning; once the award is exhausted (past its
// overdraft), expired or not yet valid, the project's pending jobs are held
// by the gate with the reason (award.State.Reason) and new ones wait with
// it too; an extension (AwardsChanged) releases them. Projects without any
// award are not limited. Usage is rebuilt from the store at Recover and on
// AwardsChanged, so it survives restarts. Owned by the loop goroutine.
type awardBook struct {
	rates   award.Rates
	source  func(context.Context) ([]core.Award, error)
	list    []core.Award
	used    map[string]float64 // award id → unit-hours of runs that ended
	warned  map[string]bool    // award ids whose 80% warning was recorded
	blocked map[string]string  // project → why its jobs are held
	lastRun time.Time
	// snapshot is list for readers outside the loop goroutine (the API
	// at submission); replaced, never changed, on each load.
	snapshot atomic.Pointer[[]core.Award]
}

// CurrentAward is the award project's jobs are charged to now (see
// award.Current); ok is false when the project has none. Safe from any
// goroutine: it reads the awards as last loaded.
func (d *Daemon) CurrentAward(project string) (core.Award, bool) {
	p := d.awards.snapshot.Load()
	if p == nil {
		return core.Award{}, false
	}
	return award.Current(*p, project, d.clock())
}

// ExchangeRates are the rates awards are normalised with.
func (d *Daemon) ExchangeRates() award.Rates { return d.awards.rates }

// awardEvery is how often the award book looks at running jobs' use.
const awardEvery = time.Second

// AwardUsage is where one project's award stands, for gf usage.
type AwardUsage struct {
	Project string       `json:"project"`
	Award   *core.Award  `json:"award,omitempty"`
	State   *award.State `json:"state,omitempty"`
	// Held is why the project's jobs wait, when they do.
	Held string `json:"held,omitempty"`
}

// AwardsChanged reloads the awards (one was made, extended or changed)
// and the use charged to them, and holds or releases jobs accordingly.
func (d *Daemon) AwardsChanged(ctx context.Context) error {
	var err error
	derr := d.notify(ctx, func(ctx context.Context) { err = d.loadAwards(ctx) })
	if derr != nil {
		return derr
	}
	return err
}

// ProjectAward says where project's current award stands.
func (d *Daemon) ProjectAward(ctx context.Context, project string) (AwardUsage, error) {
	out := AwardUsage{Project: project}
	err := d.do(ctx, func(ctx context.Context) {
		b := d.awards
		now := d.clock()
		a, ok := award.Current(b.list, project, now)
		if !ok {
			return
		}
		st := award.Evaluate(a, b.rates, d.awardUsed(a, now), now)
		out.Award, out.State, out.Held = &a, &st, b.blocked[project]
	})
	return out, err
}

// loadAwards reads the awards and recomputes what each has been charged
// by runs that ended, from the store; then evaluates them.
func (d *Daemon) loadAwards(ctx context.Context) error {
	b := d.awards
	if b.source == nil {
		return nil
	}
	list, err := b.source(ctx)
	if err != nil {
		return fmt.Errorf("load awards: %w", err)
	}
	b.list = list
	b.snapshot.Store(&list)
	b.used = map[string]float64{}
	projects := map[string]bool{}
	for _, a := range list {
		projects[a.Project] = true
	}
	for p := range projects {
		f := store.JobFilter{Project: p, Limit: store.MaxLimit}
		for {
			page, next, err := d.st.ListJobs(ctx, f)
			if err != nil {
				return fmt.Errorf("load awards: jobs of %s: %w", p, err)
			}
			for _, j := range page {
				if j.StartTime != nil && j.EndTime != nil {
					d.chargeRun(j, *j.StartTime, *j.EndTime)
				}
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
	}
	d.evaluateAwards(ctx)
	return nil
}

// chargeRun adds a run of j from start to end to the award it is charged
// to (the project's award valid at its start).
func (d *Daemon) chargeRun(j core.Job, start, end time.Time) {
	b := d.awards
	if len(b.list) == 0 || j.Alloc == nil || !end.After(start) {
		return
	}
	a, ok := award.Current(b.list, j.Project, start)
	if !ok || start.Before(a.ValidFrom) || !a.ValidTo.IsZero() && !start.Before(a.ValidTo) {
		return
	}
	b.used[a.ID] += d.runCost(a, j.Alloc, start, end)
}

// runCost is what an allocation held from start to end costs award a, in
// its unit-hours.
func (d *Daemon) runCost(a core.Award, al *core.Allocation, start, end time.Time) float64 {
	hours := float64(al.Accelerators()) / 1000 * end.Sub(start).Hours()
	return award.Charge(d.awards.rates, d.modelOf(al), award.Unit(a), hours)
}

// modelOf is the accelerator model of the pool an allocation holds.
func (d *Daemon) modelOf(al *core.Allocation) string {
	d.siteMu.Lock()
	defer d.siteMu.Unlock()
	for _, s := range d.sites {
		if s.ID != al.Site {
			continue
		}
		for _, p := range s.Pools {
			if p.Name == al.FirstPool() || al.Pool == "" && len(s.Pools) == 1 {
				return p.Model
			}
		}
	}
	return ""
}

// awardUsed is what award a has been charged at now: its ended runs and
// the part of its project's running jobs so far.
func (d *Daemon) awardUsed(a core.Award, now time.Time) float64 {
	used := d.awards.used[a.ID]
	for _, j := range d.active {
		if j.Project != a.Project || j.StartTime == nil || j.Alloc == nil {
			continue
		}
		if cur, ok := award.Current(d.awards.list, j.Project, *j.StartTime); ok && cur.ID == a.ID {
			used += d.runCost(a, j.Alloc, *j.StartTime, now)
		}
	}
	return used
}

// tickAwards evaluates the awards at most every awardEvery, so a running
// job that spends its award is noticed while it runs.
func (d *Daemon) tickAwards(ctx context.Context) {
	if len(d.awards.list) == 0 || time.Since(d.awards.lastRun) < awardEvery {
		return
	}
	d.evaluateAwards(ctx)
}

// evaluateAwards records the 80% warnings and holds or releases each
// project's jobs as its current award allows.
func (d *Daemon) evaluateAwards(ctx context.Context) {
	b := d.awards
	b.lastRun = time.Now()
	now := d.clock()
	projects := map[string]bool{}
	for _, a := range b.list {
		projects[a.Project] = true
	}
	for p := range b.blocked {
		projects[p] = true
	}
	names := make([]string, 0, len(projects))
	for p := range projects {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		a, ok := award.Current(b.list, p, now)
		why := ""
		if ok {
			st := award.Evaluate(a, b.rates, d.awardUsed(a, now), now)
			if st.Warn && !b.warned[a.ID] {
				b.warned[a.ID] = true
				msg := fmt.Sprintf("award %s at %.0f%%: %s of %s %s-hours used", a.ID, 100*st.Used/st.Total, award.FormatHours(st.Used), award.FormatHours(st.Total), strings.ToUpper(st.Unit))
				d.log.Warn("award nearly spent", "award", a.ID, "project", p, "used", st.Used, "total", st.Total)
				if _, err := d.st.AppendAudit(ctx, store.AuditEntry{Actor: "gf", Action: "award.warning", Object: "award/" + a.ID, Detail: msg}); err != nil {
					d.log.Error("record award warning", "award", a.ID, "err", err)
				}
			}
			if st.Blocks() {
				why = st.Reason(a)
			}
		}
		was := b.blocked[p]
		switch {
		case why != "" && why != was:
			b.blocked[p] = why
			d.holdProject(ctx, p, why)
		case why == "" && was != "":
			delete(b.blocked, p)
			d.releaseProject(ctx, p)
		}
	}
}

// holdProject takes project p's pending jobs out of the engine and holds
// them with reason why (or updates the reason of those held already).
func (d *Daemon) holdProject(ctx context.Context, p, why string) {
	jobs, err := d.pendingOf(ctx, p)
	if err != nil {
		d.log.Error("hold the jobs of a spent award", "project", p, "err", err)
		return
	}
	now := d.clock()
	for _, j := range jobs {
		if h, ok := d.gate.held[j.ID]; ok {
			if h.award {
				h.reason, h.detail = why, why
			}
			continue // held for its own dependency or begin time: looked at again when released
		}
		d.eng.Apply(engine.Cancelled{ID: j.ID, At: now})
		d.gate.holdAward(j, why)
	}
	d.log.Info("award holds project's jobs", "project", p, "reason", why, "jobs", len(jobs))
}

// releaseProject hands project p's jobs the award held back to the gate.
func (d *Daemon) releaseProject(ctx context.Context, p string) {
	var again []core.Job
	for _, h := range d.gate.held {
		if h.award && h.job.Project == p {
			again = append(again, h.job)
		}
	}
	slices.SortFunc(again, func(a, b core.Job) int { return int(a.ID - b.ID) })
	for _, j := range again {
		d.admit(ctx, j)
	}
	if len(again) > 0 {
		d.log.Info("award releases project's jobs", "project", p, "jobs", len(again))
		d.kick()
	}
}

// pendingOf returns project p's pending jobs from the store.
func (d *Daemon) pendingOf(ctx context.Context, p string) ([]core.Job, error) {
	var out []core.Job
	f := store.JobFilter{Project: p, States: []core.State{core.StatePending}, Limit: store.MaxLimit}
	for {
		page, next, err := d.st.ListJobs(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}

// chargeEnded gives fair share back the use of runs that ended before this
// start (within ten half-lives; older use has decayed to under 0.1%), in
// the order they ended, so a restart forgets no one's usage.
func (d *Daemon) chargeEnded(ctx context.Context) error {
	hl := d.halfLife
	if hl <= 0 {
		hl = 7 * 24 * time.Hour
	}
	since := d.clock().Add(-10 * hl)
	var evs []engine.Charged
	f := store.JobFilter{States: []core.State{core.StateCompleted, core.StateFailed, core.StateCancelled, core.StateTimeout}, Limit: store.MaxLimit}
	for {
		page, next, err := d.st.ListJobs(ctx, f)
		if err != nil {
			return fmt.Errorf("charge ended jobs to fair share: %w", err)
		}
		for _, j := range page {
			if j.StartTime == nil || j.EndTime == nil || j.Alloc == nil || j.EndTime.Before(since) {
				continue
			}
			secs := float64(j.Alloc.Accelerators()) / 1000 * j.EndTime.Sub(*j.StartTime).Seconds()
			evs = append(evs, engine.Charged{Job: j, AccelSeconds: secs, At: *j.EndTime})
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.SortFunc(evs, func(a, b engine.Charged) int { return a.At.Compare(b.At) })
	for _, ev := range evs {
		d.eng.Apply(ev)
	}
	return nil
}
