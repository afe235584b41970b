package daemon

import (
	"context"
	"fmt"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// MaxCancelBatch bounds the jobs one CancelMany call takes.
const MaxCancelBatch = 10000

// CancelMany cancels the jobs ids for actor, as CancelAudited cancels
// each, and returns them as they are after, in the order of ids. The
// pending ones are cancelled in one store transaction (one commit, not one
// a job), each with its event and, when audit gives one for its id, its
// audit entry; a job already ended is answered as it is; a starting or
// running one is cancelled at its site, one at a time. Cancelling a
// hundred thousand held jobs (gf bench api's) so takes seconds, not
// minutes. A follower cancels each job as CancelAudited does there.
func (d *Daemon) CancelMany(ctx context.Context, ids []core.JobID, actor string, audit func(core.JobID) *store.AuditEntry) ([]core.Job, error) {
	if len(ids) > MaxCancelBatch {
		return nil, fmt.Errorf("cancel %d jobs: at most %d at once", len(ids), MaxCancelBatch)
	}
	if audit == nil {
		audit = func(core.JobID) *store.AuditEntry { return nil }
	}
	if d.following() {
		out := make([]core.Job, len(ids))
		for i, id := range ids {
			j, err := d.CancelAudited(ctx, id, actor, audit(id))
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	}
	var out []core.Job
	var err error
	derr := d.do(ctx, func(loop context.Context) { out, err = d.cancelMany(loop, ids, actor, audit) })
	if derr != nil {
		return nil, derr
	}
	return out, err
}

func (d *Daemon) cancelMany(ctx context.Context, ids []core.JobID, actor string, audit func(core.JobID) *store.AuditEntry) ([]core.Job, error) {
	out, err := d.st.GetJobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	d.applyQueued(ctx) // some may still sit in the queue
	now := d.clock().UTC()
	msg := "cancelled by " + actor
	var pend []core.Job
	var at []int // index in out of each of pend
	var evs []core.Event
	var entries []store.AuditEntry
	seen := make(map[core.JobID]bool, len(ids))
	for i, j := range out {
		if j.State.Terminal() || seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		if j.State != core.StatePending {
			// At a site: its driver stops it, as for one cancel.
			wctx := ctx
			if e := audit(j.ID); e != nil {
				wctx = store.WithAudit(ctx, *e)
			}
			c, err := d.cancel(ctx, wctx, j.ID, actor)
			if err != nil {
				return nil, err
			}
			out[i] = c
			continue
		}
		j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateCancelled, msg, &now, now
		pend, at = append(pend, j), append(at, i)
		evs = append(evs, core.Event{JobID: j.ID, Time: now, Type: "cancelled", State: j.State, Message: msg})
		var e store.AuditEntry
		if a := audit(j.ID); a != nil {
			e = *a
		}
		entries = append(entries, e)
	}
	if len(pend) == 0 {
		return d.answerAsNow(ctx, out, ids)
	}
	written, err := d.st.UpdateJobsIf(ctx, pend, core.StatePending, evs, entries)
	if err != nil {
		return nil, err
	}
	for k, j := range pend {
		if !written[k] {
			continue // placed or ended meanwhile: answered as it is now
		}
		out[at[k]] = j
		d.eng.Apply(engine.Cancelled{ID: j.ID, At: now})
		d.logJob("job cancelled", j, "by", actor)
		delete(d.startFails, j.ID)
		d.metrics.ended(core.StateCancelled)
		d.changed(ctx, j)
	}
	d.kick()
	return d.answerAsNow(ctx, out, ids)
}

// answerAsNow reads again the jobs of out that did not end by this call (a
// duplicate id, one placed meanwhile), so each is answered as it is now.
func (d *Daemon) answerAsNow(ctx context.Context, out []core.Job, ids []core.JobID) ([]core.Job, error) {
	for i, j := range out {
		if j.State.Terminal() && j.ID == ids[i] {
			continue
		}
		cur, err := d.st.GetJob(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		out[i] = cur
	}
	return out, nil
}
