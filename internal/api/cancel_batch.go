package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// cancelBatchRequest is the body of POST /api/v1/jobs:cancel.
type cancelBatchRequest struct {
	// IDs are the jobs to cancel, at most MaxBatch: job ids, an array's
	// task by its own job id (POST /api/v1/jobs/{id}/cancel cancels a
	// whole array).
	IDs []int64 `json:"ids"`
}

// cancelBatch cancels many jobs, each as cancelJob cancels one job (the
// same permission, one audit entry per job with its change), the pending
// ones in one transaction. Every id is checked before any is cancelled:
// one unknown or not visible refuses the batch (422 naming ids[i]), one
// the caller may see but not cancel too (403).
func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var req cancelBatchRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if len(req.IDs) == 0 {
		return invalidField("ids", "must name at least one job")
	}
	if len(req.IDs) > MaxBatch {
		return invalidField("ids", "at most %d jobs per batch, got %d", MaxBatch, len(req.IDs))
	}
	ids := make([]core.JobID, len(req.IDs))
	for i, n := range req.IDs {
		if n <= 0 {
			return invalidField(fmt.Sprintf("ids[%d]", i), "want a positive job id, got %d", n)
		}
		ids[i] = core.JobID(n)
	}
	jobs, err := s.st.GetJobs(ctx, ids)
	if errors.Is(err, store.ErrNotFound) {
		for i, id := range ids { // name the first unknown one
			if _, err := s.st.GetJob(ctx, id); errors.Is(err, store.ErrNotFound) {
				return invalidField(fmt.Sprintf("ids[%d]", i), "no job %d", id)
			}
		}
	}
	if err != nil {
		return err
	}
	for i, j := range jobs {
		if !canSeeJob(u, j) {
			return invalidField(fmt.Sprintf("ids[%d]", i), "no job %d", j.ID) // do not reveal other tenants' jobs
		}
		if !canCancelJob(u, j) {
			return forbidden("user %s may not cancel job %d of user %s (ids[%d]): only its user, an administrator of its organisation or an operator of its site", u.Name, j.ID, j.User, i)
		}
	}
	out, err := s.d.CancelMany(ctx, ids, u.Name, func(id core.JobID) *store.AuditEntry {
		return &store.AuditEntry{Actor: u.Name, Action: "job.cancel", Object: "job/" + id.String()}
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Job]{Items: out})
}
