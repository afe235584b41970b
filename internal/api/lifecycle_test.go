package api

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

func localSite(accels int) []core.Site {
	return []core.Site{{ID: "local", Name: "test", Kind: core.SiteLocal, Country: "LU", Driver: "local", State: core.SiteActive,
		Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: accels, Nodes: 1, CPUsPerNode: 8}}}}
}

func (ts *testServer) waitState(t *testing.T, id core.JobID, want func(core.State) bool) core.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var j core.Job
		ts.do(t, ts.admin, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
		if want(j.State) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d stuck in %s (%s)", id, j.State, j.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ts *testServer) logs(t *testing.T, id core.JobID, query string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/logs?%s", ts.url, id, query), nil)
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHelloLogsAndExitCodes(t *testing.T) {
	ts := newTestServer(t, localSite(8))
	var hello, fail core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sh","-c","echo hello; echo oops >&2"],"accelerators":1}`, &hello)
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sh","-c","exit 3"],"accelerators":1}`, &fail)
	// follow=true streams until the job has ended. As with sbatch,
	// stderr goes to the output file when no error file is named.
	if got := ts.logs(t, hello.ID, "follow=true"); got != "hello\noops\n" {
		t.Errorf("stdout = %q, want hello and oops", got)
	}
	j := ts.waitState(t, hello.ID, core.State.Terminal)
	if j.State != core.StateCompleted || j.ExitCode == nil || *j.ExitCode != 0 {
		t.Errorf("hello ended %s exit %v", j.State, j.ExitCode)
	}
	f := ts.waitState(t, fail.ID, core.State.Terminal)
	if f.State != core.StateFailed || f.ExitCode == nil || *f.ExitCode != 3 {
		t.Errorf("exit 3 job ended %s exit %v", f.State, f.ExitCode)
	}
	var evs list[core.Event]
	ts.do(t, ts.admin, "GET", fmt.Sprintf("/api/v1/jobs/%d/events", hello.ID), nil, &evs)
	var types []string
	for _, e := range evs.Items {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ","); !strings.HasPrefix(got, "submitted,placed") || !strings.HasSuffix(got, "ended") {
		t.Errorf("events = %s", got)
	}
}

// Eight one-accelerator jobs run at once with distinct devices; a ninth
// waits and says why.
func TestEightAtOnceNinthWaits(t *testing.T) {
	ts := newTestServer(t, localSite(8))
	var ids []core.JobID
	for i := 0; i < 9; i++ {
		var j core.Job
		if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sh","-c","echo $CUDA_VISIBLE_DEVICES; sleep 30"],"accelerators":1}`, &j); got != 201 {
			t.Fatalf("submit: %d", got)
		}
		ids = append(ids, j.ID)
	}
	devs := map[string]core.JobID{}
	for _, id := range ids[:8] {
		ts.waitState(t, id, func(s core.State) bool { return s == core.StateRunning })
		var out string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if out = strings.TrimSpace(ts.logs(t, id, "")); out != "" {
				break
			}
		}
		if prev, dup := devs[out]; dup || out == "" {
			t.Errorf("job %d got CUDA_VISIBLE_DEVICES=%q (also job %d)", id, out, prev)
		}
		devs[out] = id
	}
	var keys []string
	for k := range devs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "0,1,2,3,4,5,6,7" {
		t.Errorf("devices = %v", keys)
	}
	var ninth core.Job
	ts.do(t, ts.admin, "GET", fmt.Sprintf("/api/v1/jobs/%d", ids[8]), nil, &ninth)
	if ninth.State != core.StatePending || ninth.Reason == "" {
		t.Fatalf("ninth job: %s, reason %q", ninth.State, ninth.Reason)
	}
	t.Logf("ninth job waits: %s", ninth.Reason)
	// Cancelling one running job lets the ninth start on the freed device.
	var c core.Job
	if got := ts.do(t, ts.admin, "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", ids[0]), nil, &c); got != 200 {
		t.Fatalf("cancel: %d", got)
	}
	if j := ts.waitState(t, ids[0], core.State.Terminal); j.State != core.StateCancelled {
		t.Errorf("cancelled job ended %s", j.State)
	}
	ts.waitState(t, ids[8], func(s core.State) bool { return s == core.StateRunning })
	for _, id := range ids[1:] {
		ts.do(t, ts.admin, "DELETE", fmt.Sprintf("/api/v1/jobs/%d", id), nil, nil)
	}
	for _, id := range ids[1:] {
		ts.waitState(t, id, core.State.Terminal)
	}
}

// A drained site starts nothing new; resumed, it does; the state survives
// in the store and the change is audited.
func TestSiteDrainResume(t *testing.T) {
	ts := newTestServer(t, localSite(8))
	var s core.Site
	if got := ts.do(t, ts.admin, "POST", "/api/v1/sites/local/drain", nil, &s); got != 200 || s.State != core.SiteDraining {
		t.Fatalf("drain: %d %+v", got, s)
	}
	var j core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"],"accelerators":1}`, &j)
	time.Sleep(300 * time.Millisecond)
	ts.do(t, ts.admin, "GET", fmt.Sprintf("/api/v1/jobs/%d", j.ID), nil, &j)
	if j.State != core.StatePending {
		t.Fatalf("job on a draining site is %s, want pending", j.State)
	}
	t.Logf("waits on the drained site: %s", j.Reason)
	if got := ts.do(t, ts.admin, "POST", "/api/v1/sites/local/resume", nil, &s); got != 200 || s.State != core.SiteActive {
		t.Fatalf("resume: %d %+v", got, s)
	}
	ts.waitState(t, j.ID, core.State.Terminal)
	var p Problem
	if got := ts.do(t, ts.admin, "POST", "/api/v1/sites/local/explode", nil, &p); got != 422 || p.Errors[0].Field != "action" {
		t.Errorf("bad action: %d %+v", got, p)
	}
	if got := ts.do(t, ts.admin, "POST", "/api/v1/sites/mars/drain", nil, nil); got != 404 {
		t.Errorf("unknown site: %d", got)
	}
	var audit list[map[string]any]
	ts.do(t, ts.admin, "GET", "/api/v1/audit?limit=1000", nil, &audit)
	n := 0
	for _, e := range audit.Items {
		if e["action"] == "site.drain" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("audit has %d site.drain entries, want 1", n)
	}
}
