package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// Several controllers on one database (issue 19): every one serves the
// API; the one holding the store's leader lease schedules and drives the
// sites. See README.md, "Leadership".

// ErrNotLeader is returned by what only the leader can do (cancel a
// running job, explain a pending one, apply an administrative change to
// the scheduler) when asked of a follower.
var ErrNotLeader = errors.New("this controller does not lead: ask the leader (gf controllers names it)")

// Leadership configures a controller that shares its store with others.
type Leadership struct {
	// ID names this controller in the store: unique among those sharing
	// it, and stable across its restarts so that a restarted leader takes
	// its own lease back at once.
	ID string
	// Address is where this controller serves the API, shown by
	// gf controllers.
	Address string
	// Lease is how long a lease lasts unrenewed; default 6 s. Renew is
	// how often the leader renews it (and every controller beats and a
	// follower tries to take a lapsed lease); default 2 s. A leader's
	// death is noticed within Lease + Renew.
	Lease, Renew time.Duration
	// Exclusive takes the lease at once whatever its state: this is the
	// only controller there can be (SQLite, whose data directory's lock
	// file keeps a second one out).
	Exclusive bool
	// PickUp is how often the leader looks in the store for pending jobs
	// that followers accepted, and for jobs followers cancelled; default
	// 1 s.
	PickUp time.Duration
}

// election is a daemon's part in the leadership; zero when it runs alone
// (Run without RunElected).
type election struct {
	on      atomic.Bool // RunElected runs
	leading atomic.Bool
	epoch   atomic.Int64 // of the current or last term
	id      string
}

// following reports whether this daemon runs elected and does not lead.
func (d *Daemon) following() bool { return d.elect.on.Load() && !d.elect.leading.Load() }

// Epoch is the epoch of this daemon's current or last term as leader; 0
// when it runs alone or never led.
func (d *Daemon) Epoch() int64 { return d.elect.epoch.Load() }

// Leading reports whether this daemon schedules: always when it runs
// alone, while it holds the lease when it runs elected.
func (d *Daemon) Leading() bool { return !d.elect.on.Load() || d.elect.leading.Load() }

// placedBy is what a placement's event adds to say which controller, in
// which epoch, placed the job; nothing when the daemon runs alone.
func (d *Daemon) placedBy(ctx context.Context) string {
	if !d.elect.on.Load() {
		return ""
	}
	return fmt.Sprintf("; by controller %s, epoch %d", d.elect.id, d.elect.epoch.Load())
}

// fenceHolds reports whether this daemon still leads in its epoch, before
// an action on a site that no store write precedes.
func (d *Daemon) fenceHolds(ctx context.Context, what string) bool {
	if err := d.st.CheckFence(ctx); err != nil {
		d.log.Warn(what+": not acting, the lease is lost", "err", err)
		return false
	}
	return true
}

// term is one spell of leading.
type term struct {
	epoch  int64
	cancel context.CancelFunc
	done   chan struct{}
}

// RunElected runs the daemon as one of several controllers sharing its
// store: it beats its row in the store's controllers, takes the leader
// lease when it is free or lapsed, and while it holds it rebuilds the
// engine from the store (Recover) and runs the loop (Run) with every write
// fenced by its epoch. It steps down, and keeps serving as a follower, as
// soon as a renewal finds the lease taken or cannot renew it in time.
// Call it instead of Recover and Run; it returns when ctx ends, giving
// the lease up.
func (d *Daemon) RunElected(ctx context.Context, l Leadership) error {
	if l.ID == "" {
		return errors.New("daemon: leadership: ID must not be empty")
	}
	if l.Lease == 0 {
		l.Lease = 6 * time.Second
	}
	if l.Renew == 0 {
		l.Renew = 2 * time.Second
	}
	if l.PickUp == 0 {
		l.PickUp = time.Second
	}
	if l.Renew <= 0 || l.Renew >= l.Lease {
		return fmt.Errorf("daemon: leadership: Renew (%s) must be positive and shorter than Lease (%s)", l.Renew, l.Lease)
	}
	d.elect.id = l.ID
	d.elect.on.Store(true)
	log := d.log.With("controller", l.ID)
	if err := d.st.Heartbeat(ctx, l.ID, l.Address, true); err != nil {
		log.Warn("leadership: heartbeat", "err", err)
	}
	tick := time.NewTicker(l.Renew)
	defer tick.Stop()
	var t *term
	var renewed time.Time
	for {
		if t == nil {
			epoch, err := d.st.AcquireLease(ctx, l.ID, l.Lease, l.Exclusive)
			if err != nil && ctx.Err() == nil {
				log.Warn("leadership: acquire", "err", err)
			}
			if epoch > 0 {
				renewed = time.Now()
				t, err = d.lead(ctx, l, epoch)
				if err != nil && l.Exclusive {
					return err // the only controller cannot recover: as Recover before Run
				}
			}
			// Ready once it has either taken the lease and recovered,
			// or found another controller leading.
			d.ready.Store(true)
		} else {
			ok, err := d.st.RenewLease(ctx, l.ID, t.epoch, l.Lease)
			switch {
			case err == nil && ok:
				renewed = time.Now()
			case err == nil:
				log.Warn("leadership lost: another controller holds the lease; following", "epoch", t.epoch)
				d.stepDown(t)
				t = nil
			case time.Since(renewed) >= l.Lease:
				log.Warn("leadership: the lease lapsed unrenewed; following", "epoch", t.epoch, "err", err)
				d.stepDown(t)
				t = nil
			default:
				log.Warn("leadership: renew failed; will retry", "epoch", t.epoch, "err", err)
			}
		}
		if err := d.st.Heartbeat(ctx, l.ID, l.Address, false); err != nil && ctx.Err() == nil {
			log.Warn("leadership: heartbeat", "err", err)
		}
		// A follower answers the calls no loop takes: refused.
		var calls chan call
		if t == nil {
			calls = d.calls
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				// A clean stop: the lease goes at once, not when it
				// lapses, and the row with it.
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if t != nil {
					d.stepDown(t)
					_ = d.st.ReleaseLease(rctx, l.ID, t.epoch)
				}
				_ = d.st.RemoveController(rctx, l.ID)
				cancel()
				return nil
			case <-tick.C:
				break wait
			case c := <-calls:
				*c.refused = true
				close(c.done)
			}
		}
	}
}

// lead starts a term of epoch: the loop's state rebuilt from the store,
// the loop run with writes fenced by epoch (unless Exclusive: no other
// controller can exist to fence off). When recovery fails it gives the
// lease back and returns the error.
func (d *Daemon) lead(ctx context.Context, l Leadership, epoch int64) (*term, error) {
	d.resetLoopState()
	fenced := ctx
	if !l.Exclusive {
		fenced = store.WithFence(ctx, epoch)
	}
	lctx, cancel := context.WithCancel(fenced)
	d.elect.epoch.Store(epoch)
	d.elect.leading.Store(true)
	t0 := time.Now()
	if err := d.Recover(lctx); err != nil {
		d.log.Error("leadership: recover as leader failed; giving the lease back", "controller", l.ID, "epoch", epoch, "err", err)
		d.elect.leading.Store(false)
		cancel()
		_ = d.st.ReleaseLease(ctx, l.ID, epoch)
		return nil, err
	}
	d.log.Info("leading", "controller", l.ID, "epoch", epoch, "recovered_in", time.Since(t0))
	t := &term{epoch: epoch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		_ = d.Run(lctx)
	}()
	if !l.Exclusive {
		go d.pickUpEvery(lctx, l.PickUp)
	}
	return t, nil
}

// stepDown ends a term: the loop stops; the API keeps serving.
func (d *Daemon) stepDown(t *term) {
	d.elect.leading.Store(false)
	t.cancel()
	<-t.done
	d.ready.Store(true)
}

// resetLoopState gives the loop fresh state, as New does, before a term
// rebuilds it from the store: what a previous term knew may be stale.
// The loop must not be running.
func (d *Daemon) resetLoopState() {
	n, err := New(d.opts)
	if err != nil { // New accepted these options once already
		panic(fmt.Sprintf("daemon: rebuild state: %v", err))
	}
	d.eng, d.orgKinds = n.eng, n.orgKinds
	d.active, d.preempting, d.unreachable = n.active, n.preempting, n.unreachable
	d.startFails, d.unadopted, d.lastAdopt = n.startFails, n.unadopted, time.Time{}
	d.gate, d.awards = n.gate, n.awards
	d.mu.Lock()
	d.queue = nil
	d.mu.Unlock()
}

// refreshEvery is how many pick-ups go by between two refreshes of what
// followers may have changed besides jobs.
const refreshEvery = 5

// aloneEvery is how many ticks go by between two pick-ups while no other
// controller has a row: a follower that accepted jobs and stopped
// cleanly between two ticks left them in the store, and they are found
// within this many ticks all the same.
const aloneEvery = 30

// pickUpEvery runs pickUp (and every refreshEvery-th time refresh) each
// tick while other controllers have rows in the store (alive, or dead
// without a clean stop), and every aloneEvery-th tick otherwise: a lone
// controller, the common case, does not scan its pending jobs every
// second.
func (d *Daemon) pickUpEvery(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if cs, err := d.st.Controllers(ctx); err == nil && len(cs) <= 1 && n%aloneEvery != 0 {
				continue
			}
			_ = d.do(ctx, d.pickUp)
			if n%refreshEvery == 0 {
				_ = d.do(ctx, d.refresh)
			}
		}
	}
}

// notify runs fn, telling the loop of a change already in the store, when
// this daemon leads; a follower has nothing to tell (the leader's refresh
// reads the change from the store).
func (d *Daemon) notify(ctx context.Context, fn func(ctx context.Context)) error {
	if d.following() {
		return nil
	}
	return d.do(ctx, fn)
}

// refresh runs on the loop: it reads again from the store what followers
// may have changed there, apart from jobs (pickUp): organisations' kinds,
// projects' budgets, awards, reservations and site states.
func (d *Daemon) refresh(ctx context.Context) {
	warn := func(what string, err error) { d.log.Warn("leadership: refresh "+what, "err", err) }
	if orgs, err := d.st.ListOrgs(ctx); err != nil {
		warn("organisations", err)
	} else {
		for _, o := range orgs {
			d.setOrgKind(o)
		}
	}
	if projects, err := d.st.ListProjects(ctx, ""); err != nil {
		warn("projects", err)
	} else {
		for _, p := range projects {
			if p.BudgetAccelHrs > 0 {
				d.setBudget(p)
			}
		}
	}
	if err := d.loadAwards(ctx); err != nil {
		warn("awards", err)
	}
	if rs, err := d.st.ListReservations(ctx); err != nil {
		warn("reservations", err)
	} else {
		known := map[string]bool{}
		for _, r := range d.eng.Reservations() {
			known[r.Name] = true
		}
		now := d.clock()
		for _, r := range rs {
			if !known[r.ID] && now.Before(r.End) {
				d.eng.Apply(engineReservation(r))
			}
			delete(known, r.ID)
		}
		for name := range known {
			d.eng.Apply(engine.ReservationDeleted{Name: name})
		}
	}
	d.siteMu.Lock()
	sites := make([]core.Site, len(d.sites))
	copy(sites, d.sites)
	d.siteMu.Unlock()
	for i, s := range sites {
		v, err := d.st.GetMeta(ctx, "site_state/"+s.ID)
		if err != nil || v == s.State {
			continue
		}
		d.siteMu.Lock()
		d.sites[i].State = v
		d.siteMu.Unlock()
		d.eng.Apply(engine.SiteChanged{Site: s.ID, State: v})
	}
	d.kick()
}

// pickUp runs on the loop: it admits the pending jobs of the store that
// the scheduler does not know (accepted by followers) and lets go of the
// jobs it holds pending that the store no longer has pending (cancelled
// by followers).
func (d *Daemon) pickUp(ctx context.Context) {
	d.applyQueued(ctx)
	ids, err := d.st.PendingJobIDs(ctx)
	if err != nil {
		d.log.Warn("leadership: look for jobs other controllers accepted", "err", err)
		return
	}
	pending := make(map[core.JobID]bool, len(ids))
	picked := 0
	for _, id := range ids {
		pending[id] = true
		if _, ok := d.eng.Status(id); ok {
			continue
		}
		if _, ok := d.gate.held[id]; ok {
			continue
		}
		j, err := d.st.GetJob(ctx, id)
		if err != nil || j.State != core.StatePending {
			continue
		}
		d.admit(ctx, j)
		picked++
	}
	var gone []core.JobID
	for _, st := range d.eng.Pending() {
		if !pending[st.ID] {
			gone = append(gone, st.ID)
		}
	}
	for id := range d.gate.held {
		if !pending[id] {
			gone = append(gone, id)
		}
	}
	now := d.clock()
	for _, id := range gone {
		j, err := d.st.GetJob(ctx, id)
		if err != nil || !j.State.Terminal() {
			continue // placed meanwhile, by this loop
		}
		d.eng.Apply(engine.Cancelled{ID: id, At: now})
		d.changed(ctx, j)
	}
	if picked > 0 || len(gone) > 0 {
		d.metrics.Submitted.Add(int64(picked))
		d.kick()
	}
}

// cancelFollowing is a follower's cancel: a pending job is cancelled in
// the store (the leader's placement of it, conditional on its being
// pending, then fails, and pickUp lets it go); an active job can only be
// stopped by the leader, which drives its site.
func (d *Daemon) cancelFollowing(ctx context.Context, id core.JobID, actor string, entry *store.AuditEntry) (core.Job, error) {
	j, err := d.st.GetJob(ctx, id)
	if err != nil {
		return core.Job{}, err
	}
	if j.State.Terminal() {
		return j, nil
	}
	if j.State != core.StatePending {
		return core.Job{}, ErrNotLeader
	}
	wctx := ctx
	if entry != nil {
		wctx = store.WithAudit(ctx, *entry)
	}
	now := d.clock().UTC()
	msg := "cancelled by " + actor
	j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateCancelled, msg, &now, now
	ok, err := d.st.UpdateJobIf(wctx, j, core.StatePending, core.Event{JobID: id, Time: now, Type: "cancelled", State: j.State, Message: msg})
	if err != nil {
		return core.Job{}, err
	}
	if !ok {
		// Placed or ended meanwhile.
		if cur, err := d.st.GetJob(ctx, id); err == nil && cur.State.Terminal() {
			return cur, nil
		}
		return core.Job{}, ErrNotLeader
	}
	d.logJob("job cancelled", j, "by", actor)
	d.metrics.ended(core.StateCancelled)
	return j, nil
}

// persistFor bounds how long the loop retries a write of a job's
// transition that the store does not take.
const persistFor = 30 * time.Second

// persist runs write, and again while it fails for a reason that may
// pass (the store restarting or out of reach, its disk full), every
// 100 ms doubling to 2 s, for at most persistFor. The loop waits for the
// store rather than go on with the engine and the store disagreeing: a
// run's end not written left its accelerators held in the store for ever
// while the engine gave them to the next job, and a placement not
// written made the engine forget a job the store has pending. It stops
// at once when the write fails for good (fenced: this daemon no longer
// leads; the job gone; already there, from a try whose answer was
// lost) or ctx ends (the term ended). retried says
// whether write ran more than once: the first run may have committed
// with its answer lost.
func (d *Daemon) persist(ctx context.Context, what string, write func() error) (retried bool, err error) {
	deadline := time.Now().Add(persistFor)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err = write()
		if err == nil || errors.Is(err, store.ErrFenced) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrClosed) ||
			ctx.Err() != nil || time.Now().After(deadline) {
			return retried, err
		}
		if !retried {
			d.log.Warn(what+": the store did not take the write; retrying", "err", err)
		}
		retried = true
		select {
		case <-ctx.Done():
			return retried, err
		case <-time.After(wait):
		}
	}
}
