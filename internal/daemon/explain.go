package daemon

import (
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

// Explanation is what `gf explain` shows for a job: the engine's status
// (reasons, estimated start, priority).
type Explanation struct {
	ID     core.JobID     `json:"id"`
	Known  bool           `json:"known"`
	Status *engine.Status `json:"status,omitempty"`
}

func explain(e *engine.Engine, id core.JobID) Explanation {
	st, ok := e.Status(id)
	if !ok {
		return Explanation{ID: id}
	}
	return Explanation{ID: id, Known: true, Status: &st}
}
