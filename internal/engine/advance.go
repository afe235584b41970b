package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Jobs that name an advance reservation (core.JobSpec.Reservation, as
// Slurm's --reservation), and site state over holds: a drained or downed
// site starts nothing, whatever a job holds or names (issue 17).

// poolActive reports whether pool pi's site takes new jobs.
func (e *Engine) poolActive(pi int) bool {
	st := e.cluster.Pools[pi].Site.State
	return st == "" || st == core.SiteActive
}

// named returns the advance reservation j names, or nil when it names
// none the engine knows (a Slurm site's own reservation, say).
func (e *Engine) named(j *job) *advance {
	if j.Spec.Reservation == "" {
		return nil
	}
	for _, a := range e.resv {
		if a.Name == j.Spec.Reservation {
			return a
		}
	}
	return nil
}

// allows reports whether j may run in a: a job it lists, or one of its
// projects' (any job when it lists neither).
func (a *advance) allows(j *job) bool {
	if len(a.Projects) == 0 && len(a.Jobs) == 0 {
		return true
	}
	return slices.Contains(a.Jobs, j.ID) || slices.Contains(a.Projects, j.Project)
}

// inReservation decides a job that names advance reservation a: it starts
// on a's nodes within a's window, or waits with a reason that begins
// "Reservation", as Slurm's squeue says. It never marks the shape dead:
// the shape holds only jobs naming a.
func (e *Engine) inReservation(j *job, a *advance, now time.Time) (started, dead bool) {
	w := j.ww()
	switch {
	case !a.allows(j):
		w.resv = fmt.Sprintf("Reservation: %s is not for project %s", a.Name, j.Project)
	case a.h == nil:
		w.resv = fmt.Sprintf("Reservation: %s holds no nodes: %s", a.Name, a.miss)
	case !a.active:
		w.resv = fmt.Sprintf("Reservation: waiting for the window of %s, %s to %s", a.Name, e.when(a.Start), e.when(a.End))
	case !e.poolActive(a.h.pool):
		p := e.cluster.Pools[a.h.pool]
		w.resv = fmt.Sprintf("Reservation: %s is at site %s, which is %s", a.Name, p.Site.ID, p.Site.State)
	default:
		if pl, ok := e.cluster.PlaceOn(&j.req, a.h.hs); ok {
			e.launch(j, pl, now)
			return true, false
		}
		w.resv = fmt.Sprintf("Reservation: the nodes of %s have no room for the job now", a.Name)
	}
	return false, false
}
