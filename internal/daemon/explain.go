package daemon

import (
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

// Explanation is what `gf explain` shows for a job: the engine's status
// (reasons, estimated start) and its priority factor by factor.
type Explanation struct {
	ID       core.JobID                `json:"id"`
	Known    bool                      `json:"known"` // false once the engine has forgotten an ended job
	Status   *engine.Status            `json:"status,omitempty"`
	Priority *engine.PriorityBreakdown `json:"priority,omitempty"`
	// Route is the broker's decision: each site filtered out and why, or
	// its score by component, and the winner.
	Route *engine.Route `json:"route,omitempty"`
}

// explain builds a job's explanation at now. The priority shown, in the
// status and the breakdown alike, is the current one: the breakdown at
// now, whose total is the sum of its factors (engine.ExplainAt); the
// queue's own copy is refreshed only every PriorityInterval.
func explain(e *engine.Federation, id core.JobID, now time.Time) Explanation {
	st, ok := e.Status(id)
	if !ok {
		return Explanation{ID: id}
	}
	ex := Explanation{ID: id, Known: true, Status: &st}
	if pb, ok := e.ExplainAt(id, now); ok {
		ex.Priority = &pb
		st.Priority = pb.Total
	}
	if r, ok := e.Route(id); ok {
		ex.Route = &r
	}
	return ex
}
