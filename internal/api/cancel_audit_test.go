package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// A cancel is audited with the job's change: one entry for a job that was
// cancelled, none for one that had already ended; an array's cancel one
// per task it cancelled.
func TestCancelAuditedWithTheChange(t *testing.T) {
	ts := newTestServer(t, localSite(2))
	count := func(object string) int {
		t.Helper()
		es, err := ts.st.FindAudit(context.Background(), store.AuditFilter{Action: "job.cancel", Object: object})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	var long, short core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sleep","60"],"accelerators":1}`, &long)
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"],"accelerators":1}`, &short)
	ts.waitState(t, short.ID, core.State.Terminal)
	if code := ts.do(t, ts.admin, "DELETE", fmt.Sprintf("/api/v1/jobs/%d", long.ID), nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if code := ts.do(t, ts.admin, "DELETE", fmt.Sprintf("/api/v1/jobs/%d", short.ID), nil, nil); code != 200 {
		t.Fatalf("cancel of an ended job: %d", code)
	}
	if n := count(fmt.Sprintf("job/%d", long.ID)); n != 1 {
		t.Errorf("%d job.cancel entries for the cancelled job, want 1", n)
	}
	if n := count(fmt.Sprintf("job/%d", short.ID)); n != 0 {
		t.Errorf("%d job.cancel entries for a job that had ended, want 0", n)
	}
	var arr core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sleep","60"],"accelerators":1,"array":{"ranges":[{"first":0,"last":3}]}}`, &arr)
	if code := ts.do(t, ts.admin, "DELETE", fmt.Sprintf("/api/v1/jobs/%d", arr.ID), nil, nil); code != 200 {
		t.Fatalf("cancel of an array: %d", code)
	}
	total := 0
	for i := range 4 {
		total += count(fmt.Sprintf("job/%d", int64(arr.ID)+int64(i)))
	}
	if total != 4 {
		t.Errorf("%d job.cancel entries for an array of 4 tasks, want 4", total)
	}
	if rep, err := ts.st.VerifyAuditKey(context.Background(), nil); err != nil || !rep.OK() {
		t.Errorf("audit chain: %v %+v", err, rep)
	}
}
