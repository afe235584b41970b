package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// PriorityBreakdown is a job's priority factor by factor, like sprio.
type PriorityBreakdown = sched.Breakdown

// Explain returns job id's priority factor by factor as of the last Step
// (ExplainAt at the engine's time).
func (e *Engine) Explain(id core.JobID) (PriorityBreakdown, bool) {
	return e.ExplainAt(id, e.now)
}

// ExplainAt returns job id's priority factor by factor at now (not before
// the last Step): the age factor at now, and the fair-share standing as
// the tree was last ranked (at each recompute, every PriorityInterval, and
// when jobs of a new account are merged into the order). The total is the sum of the factors' points, added
// as the scheduler adds them, so at a recompute it is exactly the value
// the queue is ordered by (Status.Priority); between recomputes the order
// keeps the older value while the breakdown shows the current one. It
// changes no decision: where the order depends on the fair tree nothing
// is charged or ranked for it.
func (e *Engine) ExplainAt(id core.JobID, now time.Time) (PriorityBreakdown, bool) {
	j := e.jobs.get(id)
	if j == nil {
		return PriorityBreakdown{}, false
	}
	if now.Before(e.now) {
		now = e.now
	}
	return e.priority(j, now), true
}

// Status reports a job the engine knows: why a pending job waits and when
// it is expected to start, or that an active one holds resources.
func (e *Engine) Status(id core.JobID) (Status, bool) {
	j := e.jobs.get(id)
	if j == nil {
		return Status{}, false
	}
	return e.status(j, -1), true
}

// PendingCount is the number of pending jobs.
func (e *Engine) PendingCount() int { return len(e.order) - e.tombs + len(e.fresh) }

// Pending returns the status of every pending job, highest priority first.
func (e *Engine) Pending() []Status {
	out := make([]Status, 0, len(e.order)-e.tombs+len(e.fresh))
	for _, j := range e.order {
		if j.State == core.StatePending {
			out = append(out, e.status(j, len(out)))
		}
	}
	for _, j := range e.fresh {
		out = append(out, e.status(j, len(out)))
	}
	return out
}

func (e *Engine) when(t time.Time) string {
	if t.Sub(e.now) < 20*time.Hour {
		return t.UTC().Format("15:04")
	}
	return t.UTC().Format("Jan 2 15:04")
}

// status renders j; rank is its exact place among pending jobs when the
// caller knows it, else -1 (the place at the last merge is used).
func (e *Engine) status(j *job, rank int) Status {
	s := Status{ID: j.ID, State: j.State, Priority: j.prio}
	if j.State != core.StatePending {
		return s
	}
	e.ensureEstimates()
	w := j.wt()
	if !w.est.IsZero() {
		est := w.est
		s.EstimatedStart = &est
	}
	var rs []string
	add := func(r string) {
		if r != "" {
			rs = append(rs, r)
		}
	}
	sh := j.shape
	visited := j.seenPass == e.pass && e.pass > 0
	switch {
	case e.err != nil:
		add(e.err.Error())
	case w.reason != "":
		add(w.reason)
	case w.resv != "":
		add(w.resv)
	case visited && w.quota != "":
		add(w.quota)
	case !visited && sh != nil && sh.pass == e.pass && sh.quota != "":
		add(sh.quota)
	default:
		m := w.miss
		if !visited && sh != nil && sh.pass == e.pass {
			m = sh.miss
		}
		if m.Code != sched.MissNone {
			var pools []int
			if sh != nil {
				pools = sh.grp.pools
			}
			add(e.cluster.Explain(m, pools).String())
			if m.Code == sched.MissNoPool || m.Code == sched.MissResources {
				e.siteReasons(j, add)
			}
			if j.hold == nil && m.Code != sched.MissNever && m.Code != sched.MissNoPool && sh != nil {
				g := sh.grp
				if g.heldPass != e.pass || g.heldVer != e.holdVer {
					g.heldText = g.heldText[:0]
					e.heldReasons(pools, func(s string) { g.heldText = append(g.heldText, s) })
					g.heldPass, g.heldVer = e.pass, e.holdVer
				}
				rs = append(rs, g.heldText...)
			}
		}
	}
	if h := j.hold; h != nil {
		p := e.cluster.Pools[h.pool]
		switch h.kind {
		case holdBackfill:
			add(fmt.Sprintf("reserved: %s set aside to start it by %s", e.holdWhere(h), e.when(h.at)))
		case holdPreempt:
			add(fmt.Sprintf("preempting lower-tier jobs on %d %s of %s; starts after %s", len(h.nodes), plural(len(h.nodes), "node", "nodes"), p.Name, e.when(h.at)))
		}
	}
	if rank < 0 && j.inOrder {
		rank = j.rank
	}
	if rank > 0 {
		add(fmt.Sprintf("behind %d %s of higher priority", rank, plural(rank, "job", "jobs")))
	}
	if len(rs) == 0 {
		add("not yet considered by the scheduler")
	}
	s.Reason, s.Reasons = rs[0], rs
	return s
}

// heldReasons names up to three holds in pools that keep capacity from
// a waiting job: "block gpu/b7 reserved for job 1234 from 14:00".
func (e *Engine) heldReasons(pools []int, add func(string)) {
	n := 0
	say := func(pi int, nodes []int32, who string, at time.Time) {
		if n >= 3 {
			return
		}
		for _, x := range pools {
			if x == pi {
				p := e.cluster.Pools[pi]
				where := fmt.Sprintf("%d %s of %s", len(nodes), plural(len(nodes), "node", "nodes"), p.Name)
				if b := p.BlockOf(int(nodes[0])); p.BlockOf(int(nodes[len(nodes)-1])) == b {
					where = "block " + p.BlockName(b)
				}
				add(fmt.Sprintf("%s reserved for %s from %s", where, who, e.when(at)))
				n++
				return
			}
		}
	}
	for _, h := range e.holds {
		if h.kind == holdBackfill {
			say(h.pool, h.nodes, "job "+h.job.ID.String(), h.at)
		}
	}
	for _, a := range e.resv {
		if a.h != nil {
			say(a.h.pool, a.h.nodes, "reservation "+a.Name, a.Start)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ReservationStatus describes an advance reservation.
type ReservationStatus struct {
	Name         string    `json:"name"`
	Site         string    `json:"site,omitempty"`
	Pool         string    `json:"pool,omitempty"`
	Accelerators int       `json:"accelerators"` // held: whole nodes
	Nodes        []string  `json:"nodes,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Active       bool      `json:"active"`
	Problem      string    `json:"problem,omitempty"` // why it holds nothing
}

// Reservations lists the advance reservations by start time.
func (e *Engine) Reservations() []ReservationStatus {
	out := make([]ReservationStatus, 0, len(e.resv))
	for _, a := range e.resv {
		rs := ReservationStatus{Name: a.Name, Start: a.Start, End: a.End, Active: a.active, Problem: a.miss}
		if a.h != nil {
			p := e.cluster.Pools[a.h.pool]
			rs.Site, rs.Pool, rs.Accelerators = p.Site.ID, p.Name, len(a.h.nodes)*p.K
			for _, n := range a.h.nodes {
				rs.Nodes = append(rs.Nodes, p.NodeName(int(n)))
			}
		}
		out = append(out, rs)
	}
	return out
}

// siteReasons says which sites a job is kept from by their state.
func (e *Engine) siteReasons(j *job, add func(string)) {
	for _, s := range e.cluster.Sites {
		if s.State == "" || s.State == core.SiteActive || len(s.Pools) == 0 {
			continue
		}
		if j.req.Site != "" && j.req.Site != s.ID {
			continue
		}
		if len(j.req.Countries) > 0 && !slices.Contains(j.req.Countries, s.Country) {
			continue
		}
		add(fmt.Sprintf("site %s is %s", s.ID, s.State))
	}
}
