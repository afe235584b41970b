package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// UpdateJobsIf writes, in one transaction, the jobs still in the state
// asked for, each with its event and its audit entry; the others, and their
// entries, not. GetJobs reads them back in the order asked, and names a
// missing one. Audit appends of several hundred entries (more than one
// multi-row INSERT) chain as one at a time would.
func TestUpdateJobsIf(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		specs := make([]core.Job, 450)
		for i := range specs {
			specs[i] = core.Job{Name: "j", Project: "p", Org: "o", User: "u", Spec: core.JobSpec{Command: []string{"true"}}}
		}
		jobs, _, err := db.SubmitJobs(ctx, specs)
		if err != nil {
			t.Fatal(err)
		}
		// The last one runs meanwhile: not pending any more.
		run := jobs[len(jobs)-1]
		run.State = core.StateRunning
		if err := db.UpdateJob(ctx, run, core.Event{}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		evs := make([]core.Event, len(jobs))
		audit := make([]store.AuditEntry, len(jobs))
		want := make([]core.Job, len(jobs))
		for i, j := range jobs {
			j.State, j.Reason, j.EndTime, j.UpdateTime = core.StateCancelled, "cancelled by u", &now, now
			want[i] = j
			evs[i] = core.Event{JobID: j.ID, Time: now, Type: "cancelled", State: j.State, Message: j.Reason}
			audit[i] = store.AuditEntry{Actor: "u", Action: "job.cancel", Object: "job/" + j.ID.String()}
		}
		audit[3] = store.AuditEntry{} // no entry for this one
		written, err := db.UpdateJobsIf(ctx, want, core.StatePending, evs, audit)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]core.JobID, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		got, err := db.GetJobs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, j := range got {
			last := i == len(jobs)-1
			if j.ID != ids[i] || written[i] == last {
				t.Fatalf("job %d: id %d, written %v", i, j.ID, written[i])
			}
			wantState := core.StateCancelled
			if last {
				wantState = core.StateRunning
			}
			if j.State != wantState {
				t.Errorf("job %d: %s, want %s", j.ID, j.State, wantState)
			}
			evs, err := db.JobEvents(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(evs); last && evs[n-1].Type == "cancelled" || !last && (evs[n-1].Type != "cancelled" || evs[n-1].Seq != int64(n)) {
				t.Errorf("job %d: events %+v", j.ID, evs)
			}
		}
		entries, err := db.FindAudit(ctx, store.AuditFilter{Action: "job.cancel", Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(jobs)-2 { // not the running one, not the one without an entry
			t.Errorf("%d cancel entries, want %d", len(entries), len(jobs)-2)
		}
		for _, e := range entries {
			if e.Object == "job/"+run.ID.String() || e.Object == "job/"+jobs[3].ID.String() {
				t.Errorf("entry %s written for a job not cancelled or without one", e.Object)
			}
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Errorf("audit chain: %v", err)
		}
		if _, err := db.GetJobs(ctx, []core.JobID{ids[0], 999999}); !errors.Is(err, store.ErrNotFound) || !containsID(err, 999999) {
			t.Errorf("a missing job: %v, want ErrNotFound naming it", err)
		}
	})
}

func containsID(err error, id int) bool {
	return err != nil && strings.Contains(err.Error(), fmt.Sprint(id))
}
