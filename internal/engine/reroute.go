package engine

import (
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/sched"
)

// moveTo sends pending job j to site: the engine's side of a routing
// decision (Federation.decide). The job leaves its place in the order
// and its shape queue, forgets its hold and estimate, and goes back among
// the fresh jobs, which the next pass merges into the new site's shape.
// Only the engine edits its queues; the federation asks through here.
func (e *Engine) moveTo(j *job, site string) {
	if j.req.Site == site && j.shape != nil {
		return
	}
	e.dropHold(j)
	if j.w != nil {
		j.w.est, j.w.miss, j.w.quota = time.Time{}, sched.Miss{}, ""
	}
	if j.inOrder {
		if i := slices.Index(e.order, j); i >= 0 {
			e.order = slices.Delete(e.order, i, i+1)
		}
		j.inOrder = false
		e.fresh = append(e.fresh, j)
	}
	if j.inShape && j.shape != nil {
		if i := slices.Index(j.shape.q, j); i >= 0 {
			j.shape.q = slices.Delete(j.shape.q, i, i+1)
		}
		j.inShape = false
	}
	j.shape = nil
	e.setSite(j, site)
}
