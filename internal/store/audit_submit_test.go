package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Audited submissions write exactly one chained audit entry per call that
// created jobs, in the same transaction, even when calls share a commit.
func TestSubmitJobsAudited(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const calls = 200
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			jobs := []core.Job{{Name: "a", Project: "p", User: fmt.Sprintf("u%d", i%7), IdempotencyKey: fmt.Sprintf("k%d", i)}}
			if i%10 == 0 { // some calls carry two jobs
				jobs = append(jobs, core.Job{Name: "b", Project: "p", User: jobs[0].User})
			}
			_, _, err := db.SubmitJobsAudited(ctx, jobs, AuditEntry{Actor: jobs[0].User, Action: "job.submit"})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A retry of an idempotent job writes no entry.
	if _, created, err := db.SubmitJobsAudited(ctx, []core.Job{{Name: "a", Project: "p", User: "u1", IdempotencyKey: "k1"}}, AuditEntry{Actor: "u1", Action: "job.submit"}); err != nil || created[0] {
		t.Fatalf("retry: created %v, err %v", created, err)
	}
	n, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != calls {
		t.Errorf("%d audit entries, want %d (one per call)", n, calls)
	}
	es, err := db.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	multi := 0
	for _, e := range es {
		if strings.HasPrefix(e.Object, "jobs/") {
			multi++
			if !strings.Contains(e.Detail, "2 jobs") {
				t.Errorf("entry %d: %+v", e.Seq, e)
			}
		} else if !strings.HasPrefix(e.Object, "job/") {
			t.Errorf("entry %d names %q", e.Seq, e.Object)
		}
	}
	if multi != calls/10 {
		t.Errorf("%d two-job entries, want %d", multi, calls/10)
	}
}
