package daemon

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/depend"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

// The gate keeps pending jobs from the engine until they may run: a
// dependency that does not hold yet (reason Dependency), a begin time not
// reached (BeginTime), an array's throttle (JobArrayTaskLimit). The engine
// sees only jobs it may place, so its speed and its reasons are untouched;
// the gate answers for the jobs it holds. It is rebuilt from the store at
// restart (Recover admits every pending job again), so a dependency waits
// across restarts. It is owned by the loop goroutine.
type gate struct {
	held map[core.JobID]*heldJob
	// dependents indexes held jobs by the job ids their dependency names
	// ("1234", "1234_7"); singletons by user and name.
	dependents map[string]map[core.JobID]bool
	singletons map[string]map[core.JobID]bool
	arrays     map[core.JobID]*arrayGate
	// latest is, per pending job with a --deadline, the last moment it
	// may start and still end before it.
	latest map[core.JobID]time.Time
	// wakes and deadlines order held jobs' wake times and pending jobs'
	// latest starts, so that a turn looks only at what is due, not at
	// every held job (a year's --begin jobs by the hundred thousand).
	// Entries are discarded lazily: one whose job left the gate, or whose
	// time changed, is dropped when it comes to the top or at a compaction.
	wakes, deadlines timeHeap
}

// timeEntry is one (time, job) in a timeHeap.
type timeEntry struct {
	at time.Time
	id core.JobID
}

// timeHeap is a min-heap of timeEntry by time, then job id
// (container/heap).
type timeHeap []timeEntry

func (h timeHeap) Len() int { return len(h) }
func (h timeHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].id < h[j].id
}
func (h timeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)   { *h = append(*h, x.(timeEntry)) }
func (h *timeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// top drops stale entries from the top (valid says which are live) and
// returns the earliest live one.
func (h *timeHeap) top(valid func(timeEntry) bool) (timeEntry, bool) {
	for h.Len() > 0 {
		if e := (*h)[0]; valid(e) {
			return e, true
		}
		heap.Pop(h)
	}
	return timeEntry{}, false
}

// compact rebuilds h from its live entries once at least half of them
// are stale (live bounds the live ones), so cancelled held jobs do not
// pile up until their times; amortised O(1) a change.
func (h *timeHeap) compact(live int, valid func(timeEntry) bool) {
	if h.Len() <= 2*live+64 {
		return
	}
	kept := (*h)[:0]
	for _, e := range *h {
		if valid(e) {
			kept = append(kept, e)
		}
	}
	clear((*h)[len(kept):])
	*h = kept
	heap.Init(h)
}

// wakeLive says whether e is held job e.id's current wake time.
func (g *gate) wakeLive(e timeEntry) bool {
	h, ok := g.held[e.id]
	return ok && h.wake.Equal(e.at)
}

// deadlineLive says whether e is job e.id's current latest start.
func (g *gate) deadlineLive(e timeEntry) bool {
	last, ok := g.latest[e.id]
	return ok && last.Equal(e.at)
}

// setLatest records j's latest start and orders it.
func (g *gate) setLatest(id core.JobID, last time.Time) {
	g.latest[id] = last
	heap.Push(&g.deadlines, timeEntry{at: last, id: id})
	g.deadlines.compact(len(g.latest), g.deadlineLive)
}

// dueHeld takes, in job id order, the held jobs whose wake time has come
// (not before now); each is taken once for the wake time it was held
// with.
func (g *gate) dueHeld(now time.Time) []core.Job {
	var due []core.Job
	for {
		e, ok := g.wakes.top(g.wakeLive)
		if !ok || now.Before(e.at) {
			break
		}
		heap.Pop(&g.wakes)
		due = append(due, g.held[e.id].job)
	}
	slices.SortFunc(due, func(a, b core.Job) int { return int(a.ID - b.ID) })
	due = slices.CompactFunc(due, func(a, b core.Job) bool { return a.ID == b.ID })
	g.wakes.compact(len(g.held), g.wakeLive)
	return due
}

// dueLate takes, in id order, the jobs whose latest start is past (now
// after it) and forgets their deadlines.
func (g *gate) dueLate(now time.Time) []core.JobID {
	var late []core.JobID
	for {
		e, ok := g.deadlines.top(g.deadlineLive)
		if !ok || !now.After(e.at) {
			break
		}
		heap.Pop(&g.deadlines)
		late = append(late, e.id)
	}
	slices.Sort(late)
	late = slices.Compact(late)
	for _, id := range late {
		delete(g.latest, id)
	}
	g.deadlines.compact(len(g.latest), g.deadlineLive)
	return late
}

type heldJob struct {
	job    core.Job
	reason string    // squeue's reason: Dependency, BeginTime, JobArrayTaskLimit
	detail string    // what exactly it waits for
	wake   time.Time // when to look again without an event; zero: on events only
	award  bool      // held because its project's award does not allow it now
}

// arrayGate counts an array's tasks handed to the engine against its
// throttle (--array=...%N); waiting are the others, by task index.
type arrayGate struct {
	throttle int
	admitted map[core.JobID]bool
	waiting  []core.Job
}

func newGate() *gate {
	return &gate{held: map[core.JobID]*heldJob{}, dependents: map[string]map[core.JobID]bool{},
		singletons: map[string]map[core.JobID]bool{}, arrays: map[core.JobID]*arrayGate{}, latest: map[core.JobID]time.Time{}}
}

func singletonKey(j core.Job) string { return j.User + "\x00" + j.Name }

// admit hands a pending job to the engine, or holds it, or fails it when
// its dependency can never hold. It runs for new and recovered jobs alike.
func (d *Daemon) admit(ctx context.Context, j core.Job) {
	now := d.clock().UTC()
	g := d.gate
	g.unhold(j)
	defer func() {
		// A job held for a dependency while its award is spent says the
		// award: that is what stops it first.
		if why := d.awards.blocked[j.Project]; why != "" {
			if h, ok := g.held[j.ID]; ok && !h.award && h.reason != core.ReasonArrayTaskLimit {
				h.reason, h.detail = why+"; then "+h.reason, why+"; then "+h.detail
			}
		}
	}()
	if j.Spec.Deadline != "" {
		if _, ok := g.latest[j.ID]; !ok {
			dl, err := spec.ParseSlurmDate(j.Spec.Deadline, j.SubmitTime)
			if err == nil {
				last := dl.Add(-time.Duration(j.Spec.Walltime))
				if now.After(last) {
					d.pastDeadline(ctx, j, dl)
					return
				}
				g.setLatest(j.ID, last)
			}
		}
	}
	if why := d.awards.blocked[j.Project]; why != "" && j.Spec.Dependency == nil {
		g.holdAward(j, why)
		return
	}
	if j.Spec.Dependency != nil {
		r := d.evaluate(ctx, j, now)
		switch r.Outcome {
		case depend.Never:
			d.neverSatisfied(ctx, j, r.Why)
			return
		case depend.Waiting:
			g.hold(j, core.ReasonDependency, r.Why, r.WakeAt)
			return
		}
	}
	if j.Spec.Begin != "" {
		at, err := spec.ParseSlurmDate(j.Spec.Begin, j.SubmitTime)
		if err == nil && now.Before(at) {
			g.hold(j, core.ReasonBeginTime, "begins at "+at.Format(time.RFC3339), at)
			return
		}
	}
	if j.ArrayTaskID != nil && j.Spec.Array != nil && j.Spec.Array.Throttle > 0 {
		a := g.arrays[j.ArrayJobID]
		if a == nil {
			a = &arrayGate{throttle: j.Spec.Array.Throttle, admitted: map[core.JobID]bool{}}
			g.arrays[j.ArrayJobID] = a
		}
		if !a.admitted[j.ID] && len(a.admitted) >= a.throttle {
			g.hold(j, core.ReasonArrayTaskLimit, fmt.Sprintf("at most %d tasks of array %d at once", a.throttle, j.ArrayJobID), time.Time{})
			if !slices.ContainsFunc(a.waiting, func(w core.Job) bool { return w.ID == j.ID }) {
				a.waiting = append(a.waiting, j)
				slices.SortFunc(a.waiting, func(x, y core.Job) int { return *x.ArrayTaskID - *y.ArrayTaskID })
			}
			return
		}
		a.admitted[j.ID] = true
	}
	if why := d.awards.blocked[j.Project]; why != "" {
		g.holdAward(j, why) // its dependency holds now, its award not
		return
	}
	d.eng.Apply(engine.Submitted{Job: j})
}

// holdAward holds j because its project's award does not allow it now.
func (g *gate) holdAward(j core.Job, why string) {
	g.unhold(j)
	g.held[j.ID] = &heldJob{job: j, reason: why, detail: why, award: true}
}

// hold records j as held for reason; its dependency's jobs index it.
func (g *gate) hold(j core.Job, reason, detail string, wake time.Time) {
	g.held[j.ID] = &heldJob{job: j, reason: reason, detail: detail, wake: wake}
	if !wake.IsZero() {
		heap.Push(&g.wakes, timeEntry{at: wake, id: j.ID})
		g.wakes.compact(len(g.held), g.wakeLive)
	}
	for _, id := range depend.Names(j.Spec.Dependency) {
		add(g.dependents, id, j.ID)
		if base, _, ok := strings.Cut(id, "_"); ok {
			add(g.dependents, base, j.ID) // the array's id names its tasks too
		}
	}
	if depend.HasSingleton(j.Spec.Dependency) {
		add(g.singletons, singletonKey(j), j.ID)
	}
}

// unhold forgets j as held (it is admitted, or ended).
func (g *gate) unhold(j core.Job) {
	if _, ok := g.held[j.ID]; !ok {
		return
	}
	delete(g.held, j.ID)
	g.wakes.compact(len(g.held), g.wakeLive)
	for _, id := range depend.Names(j.Spec.Dependency) {
		del(g.dependents, id, j.ID)
		if base, _, ok := strings.Cut(id, "_"); ok {
			del(g.dependents, base, j.ID)
		}
	}
	del(g.singletons, singletonKey(j), j.ID)
}

func add(m map[string]map[core.JobID]bool, k string, id core.JobID) {
	if m[k] == nil {
		m[k] = map[core.JobID]bool{}
	}
	m[k][id] = true
}

func del(m map[string]map[core.JobID]bool, k string, id core.JobID) {
	delete(m[k], id)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// changed tells the gate that j started or ended (or was cancelled while
// pending): its array's throttle may admit the next task, and the jobs
// that depend on it are looked at again.
func (d *Daemon) changed(ctx context.Context, j core.Job) {
	g := d.gate
	delete(g.latest, j.ID) // started or ended: its deadline is the driver's walltime's business
	g.deadlines.compact(len(g.latest), g.deadlineLive)
	if j.State.Terminal() {
		if _, ok := g.held[j.ID]; ok {
			g.unhold(j)
		}
		if a := g.arrays[j.ArrayJobID]; a != nil && j.ArrayTaskID != nil {
			delete(a.admitted, j.ID)
			a.waiting = slices.DeleteFunc(a.waiting, func(w core.Job) bool { return w.ID == j.ID })
			for len(a.admitted) < a.throttle && len(a.waiting) > 0 {
				next := a.waiting[0]
				a.waiting = a.waiting[1:]
				d.admit(ctx, next) // a task held for its own dependency lets the next one go
			}
			if len(a.admitted) == 0 && len(a.waiting) == 0 {
				delete(g.arrays, j.ArrayJobID)
			}
		}
	}
	keys := []string{j.ID.String()}
	if j.ArrayTaskID != nil {
		keys = append(keys, j.DisplayID(), j.ArrayJobID.String())
	}
	var again []core.JobID
	for _, k := range keys {
		for id := range g.dependents[k] {
			again = append(again, id)
		}
	}
	if j.State.Terminal() {
		for id := range g.singletons[singletonKey(j)] {
			if id != j.ID {
				again = append(again, id)
			}
		}
	}
	slices.Sort(again)
	again = slices.Compact(again)
	for _, id := range again {
		if h, ok := g.held[id]; ok {
			d.admit(ctx, h.job)
		}
	}
	if len(again) > 0 {
		d.kick()
	}
}

// wakeHeld looks again at held jobs whose time has come (a begin time, an
// after+minutes delay).
func (d *Daemon) wakeHeld(ctx context.Context) {
	now := d.clock()
	for _, j := range d.gate.dueHeld(now) {
		d.admit(ctx, j)
	}
	for _, id := range d.gate.dueLate(now) {
		j, err := d.st.GetJob(ctx, id)
		if err != nil || j.State != core.StatePending {
			continue
		}
		dl, _ := spec.ParseSlurmDate(j.Spec.Deadline, j.SubmitTime)
		d.pastDeadline(ctx, j, dl)
	}
}

// pastDeadline ends a pending job that can no longer end before its
// --deadline, as Slurm does (state DEADLINE there): cancelled, reason
// DeadLine.
func (d *Daemon) pastDeadline(ctx context.Context, j core.Job, dl time.Time) {
	now := d.clock().UTC()
	from := j.State
	msg := fmt.Sprintf("DeadLine: could not start in time to end by its deadline %s", dl.UTC().Format(time.RFC3339))
	j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateCancelled, "DeadLine", &now, now
	ok, err := d.st.UpdateJobIf(ctx, j, from, core.Event{JobID: j.ID, Time: now, Type: "ended", State: j.State, Message: msg})
	if err != nil || !ok {
		if err != nil {
			d.log.Error("record deadline", "job", int64(j.ID), "err", err)
		}
		return
	}
	d.eng.Apply(engine.Cancelled{ID: j.ID, At: now})
	d.logJob("job ended", j, "state", string(j.State), "reason", msg)
	d.metrics.ended(core.StateCancelled)
	d.changed(ctx, j)
}

// running counts a recovered starting or running array task against its
// array's throttle.
func (g *gate) running(j core.Job) {
	if j.ArrayTaskID == nil || j.Spec.Array == nil || j.Spec.Array.Throttle <= 0 {
		return
	}
	a := g.arrays[j.ArrayJobID]
	if a == nil {
		a = &arrayGate{throttle: j.Spec.Array.Throttle, admitted: map[core.JobID]bool{}}
		g.arrays[j.ArrayJobID] = a
	}
	a.admitted[j.ID] = true
}

// nextWake is the earliest time a held job is to be looked at again: a
// wake time, or just after a latest start.
func (g *gate) nextWake() time.Time {
	var next time.Time
	if e, ok := g.deadlines.top(g.deadlineLive); ok {
		next = e.at.Add(time.Millisecond)
	}
	if e, ok := g.wakes.top(g.wakeLive); ok && (next.IsZero() || e.at.Before(next)) {
		next = e.at
	}
	return next
}

// status is the gate's answer for a held job, as the engine would give it.
func (g *gate) status(id core.JobID) (engine.Status, bool) {
	h, ok := g.held[id]
	if !ok {
		return engine.Status{}, false
	}
	return engine.Status{ID: id, State: core.StatePending, Reason: h.reason}, true
}

// explain is status with what exactly the job waits for.
func (g *gate) explain(id core.JobID) (engine.Status, bool) {
	st, ok := g.status(id)
	if ok {
		st.Reasons = []string{g.held[id].detail}
	}
	return st, ok
}

// evaluate decides j's dependency against the store.
func (d *Daemon) evaluate(ctx context.Context, j core.Job, now time.Time) depend.Result {
	look := func(id string) []depend.Ref {
		jobs, err := d.named(ctx, id)
		if err != nil {
			d.log.Error("dependency lookup", "job", int64(j.ID), "on", id, "err", err)
			return []depend.Ref{{State: core.StatePending}} // not knowing is waiting
		}
		refs := make([]depend.Ref, len(jobs))
		for i, x := range jobs {
			refs[i] = depend.Ref{State: x.State, StartTime: x.StartTime}
		}
		return refs
	}
	singleton := func() bool {
		jobs, _, err := d.st.ListJobs(ctx, store.JobFilter{User: j.User, Name: j.Name, Limit: store.MaxLimit,
			States: []core.State{core.StatePending, core.StateStarting, core.StateRunning}})
		if err != nil {
			return true
		}
		for _, x := range jobs {
			if x.ID < j.ID {
				return true
			}
		}
		return false
	}
	return depend.Evaluate(j.Spec.Dependency, now, look, singleton)
}

// named returns the jobs a dependency's id names: "1234_7" one array
// task; "1234" the job, or all the tasks of the array 1234.
func (d *Daemon) named(ctx context.Context, id string) ([]core.Job, error) {
	base, task, isTask := strings.Cut(id, "_")
	n, err := strconv.ParseInt(base, 10, 64)
	if err != nil {
		return nil, nil
	}
	if isTask {
		t, err := strconv.Atoi(task)
		if err != nil {
			return nil, nil
		}
		jobs, _, err := d.st.ListJobs(ctx, store.JobFilter{ArrayJobID: core.JobID(n), ArrayTaskID: &t})
		return jobs, err
	}
	j, err := d.st.GetJob(ctx, core.JobID(n))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if j.ArrayTaskID == nil || j.ArrayJobID != j.ID {
		return []core.Job{j}, nil
	}
	return d.st.ArrayTasks(ctx, j.ID)
}

// neverSatisfied ends a job whose dependency can no longer hold, as Slurm
// does with kill_invalid_depend: failed, reason DependencyNeverSatisfied.
func (d *Daemon) neverSatisfied(ctx context.Context, j core.Job, why string) {
	now := d.clock().UTC()
	from := j.State
	j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateFailed, core.ReasonDependencyNeverSatisfied, &now, now
	ok, err := d.st.UpdateJobIf(ctx, j, from, core.Event{JobID: j.ID, Time: now, Type: "ended", State: j.State,
		Message: core.ReasonDependencyNeverSatisfied + ": " + why})
	if err != nil {
		d.log.Error("record dependency never satisfied", "job", int64(j.ID), "err", err)
		return
	}
	if !ok {
		return
	}
	d.logJob("job ended", j, "state", string(j.State), "reason", j.Reason, "detail", why)
	d.metrics.ended(core.StateFailed)
	d.changed(ctx, j)
}
