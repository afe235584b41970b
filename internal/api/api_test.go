package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// testServer is a real API over a real SQLite store and daemon, on a
// loopback HTTP server.
type testServer struct {
	url   string
	admin string // token
	st    *store.DB
	d     *daemon.Daemon
}

// newTestServer starts a server; sites may be nil (then every job waits).
// Rate limiting is off unless opts turn it on.
func newTestServer(t testing.TB, sites []core.Site, opts ...Option) *testServer {
	t.Helper()
	return startTestServer(t, sites, nil, opts...)
}

// startTestServer is newTestServer whose HTTP server has the timeouts tm
// (nil: none, as httptest's).
func startTestServer(t testing.TB, sites []core.Site, tm *Timeouts, opts ...Option) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	drivers := map[string]driver.Driver{}
	for _, s := range sites {
		ld, err := local.New(local.Options{Dir: filepath.Join(dir, "sites", s.ID), KillGrace: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		drivers[s.ID] = ld
		t.Cleanup(func() { _ = ld.Close() })
	}
	d, err := daemon.New(daemon.Options{Store: st, Sites: sites, Drivers: drivers, PollEvery: 20 * time.Millisecond, Engine: engine.DefaultConfig(),
		// As gf serve: the store's awards, expired ones too.
		Awards: func(ctx context.Context) ([]core.Award, error) { return st.ListAwards(ctx, "") }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	must(t, st.CreateOrg(ctx, core.Org{Name: "default", Kind: core.OrgResearch, Country: "LU", CreatedAt: now}))
	must(t, st.CreateOrg(ctx, core.Org{Name: "acme", Kind: core.OrgStartup, Country: "DE", CreatedAt: now}))
	must(t, st.CreateProject(ctx, core.Project{Name: "default", Org: "default", CreatedAt: now}))
	must(t, st.CreateProject(ctx, core.Project{Name: "rocket", Org: "acme", CreatedAt: now}))
	must(t, st.CreateUser(ctx, core.User{Name: "admin", Org: "default", Role: core.RoleAdmin, CreatedAt: now}))
	tok, hash := NewToken()
	must(t, st.CreateToken(ctx, "admin", hash, "test"))
	if err := d.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(loopCtx) }()
	h := New(d, nil, "test", append([]Option{WithRateLimit(RateLimit{})}, opts...)...).Handler()
	hs := httptest.NewUnstartedServer(h)
	if tm != nil {
		hs.Config = HTTPServer(h, *tm, nil)
	}
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	return &testServer{url: hs.URL, admin: tok, st: st, d: d}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// do sends a request and decodes the JSON answer into out (if not nil).
func (ts *testServer) do(t testing.TB, token, method, path string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func TestInvalidInputNamesTheField(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := map[string]struct {
		path, body string
		status     int
		field      string
	}{
		"negative accelerators": {"/api/v1/jobs", `{"command":["true"],"accelerators":-1}`, 422, "accelerators"},
		"wrong type":            {"/api/v1/jobs", `{"command":["true"],"accelerators":"many"}`, 422, "accelerators"},
		"bad walltime":          {"/api/v1/jobs", `{"command":["true"],"walltime":"abc"}`, 422, "walltime"},
		"unknown project":       {"/api/v1/jobs", `{"command":["true"],"project":"nope"}`, 422, "project"},
		"unknown field":         {"/api/v1/jobs", `{"command":["true"],"acelerators":1}`, 422, "acelerators"},
		"unknown site":          {"/api/v1/jobs", `{"command":["true"],"site":"mars"}`, 422, "site"},
		"batch element":         {"/api/v1/jobs:batch", `{"jobs":[{"command":["true"]},{"command":["true"],"nodes":-2}]}`, 422, "jobs[1].nodes"},
		"org kind":              {"/api/v1/orgs", `{"name":"x","kind":"pirate","country":"DE"}`, 422, "kind"},
		"org country":           {"/api/v1/orgs", `{"name":"x","kind":"sme","country":"ZZ"}`, 422, "country"},
		"project budget":        {"/api/v1/projects", `{"name":"p","org":"acme","budget_accelerator_hours":-5}`, 422, "budget_accelerator_hours"},
		"project org type":      {"/api/v1/projects", `{"name":"p","org":7}`, 422, "org"},
		"output climbs out":     {"/api/v1/jobs", `{"command":["true"],"output":"../../../../gf.db"}`, 422, "output"},
		"error outside roots":   {"/api/v1/jobs", `{"command":["true"],"error":"/etc/passwd"}`, 422, "error"},
		"workdir is root":       {"/api/v1/jobs", `{"command":["true"],"workdir":"/"}`, 422, "workdir"},
		"two bad paths":         {"/api/v1/jobs", `{"command":["true"],"workdir":"/nonexistent","error":"../x"}`, 422, "error"},
		"batch output":          {"/api/v1/jobs:batch", `{"jobs":[{"command":["true"]},{"command":["true"],"output":"a/../../x"}]}`, 422, "jobs[1].output"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p Problem
			got := ts.do(t, ts.admin, "POST", tc.path, tc.body, &p)
			if got != tc.status {
				t.Fatalf("status %d, want %d (%+v)", got, tc.status, p)
			}
			found := false
			for _, e := range p.Errors {
				if e.Field == tc.field {
					found = true
				}
			}
			if !found {
				t.Errorf("problem %+v does not name field %q", p, tc.field)
			}
			if !strings.HasPrefix(p.Type, "https://") || p.Title == "" || p.Instance != tc.path {
				t.Errorf("not a complete problem document: %+v", p)
			}
		})
	}
}

func TestAuthAndTenancy(t *testing.T) {
	ts := newTestServer(t, nil)
	if got := ts.do(t, "", "GET", "/api/v1/jobs", nil, nil); got != 401 {
		t.Errorf("no token: %d, want 401", got)
	}
	if got := ts.do(t, "gf_wrong", "GET", "/api/v1/jobs", nil, nil); got != 401 {
		t.Errorf("bad token: %d, want 401", got)
	}
	if got := ts.do(t, "", "GET", "/healthz", nil, nil); got != 200 {
		t.Errorf("healthz: %d", got)
	}
	var created userWithToken
	if got := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]string{"name": "ada", "org": "acme"}, &created); got != 201 {
		t.Fatalf("create user: %d", got)
	}
	ada := created.Token
	// ada may charge her org's project but not the default one.
	var j core.Job
	if got := ts.do(t, ada, "POST", "/api/v1/jobs", `{"command":["true"],"project":"rocket"}`, &j); got != 201 {
		t.Fatalf("ada submit to rocket: %d", got)
	}
	// Another organisation's project is as unknown to her as a missing one.
	if got := ts.do(t, ada, "POST", "/api/v1/jobs", `{"command":["true"],"project":"default"}`, nil); got != 422 {
		t.Errorf("ada submit to default: %d, want 422 (unknown project)", got)
	}
	if got := ts.do(t, ada, "POST", "/api/v1/orgs", `{"name":"evil","kind":"sme","country":"DE"}`, nil); got != 403 {
		t.Errorf("ada creates org: %d, want 403", got)
	}
	// A job of the default org is invisible to ada.
	var other core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"]}`, &other)
	if got := ts.do(t, ada, "GET", fmt.Sprintf("/api/v1/jobs/%d", other.ID), nil, nil); got != 404 {
		t.Errorf("ada reads another tenant's job: %d, want 404", got)
	}
	var l list[core.Job]
	ts.do(t, ada, "GET", "/api/v1/jobs", nil, &l)
	if len(l.Items) != 1 || l.Items[0].ID != j.ID {
		t.Errorf("ada lists %d jobs, want only her own %d", len(l.Items), j.ID)
	}
	// Every mutation is audited and the chain verifies.
	var v map[string]any
	ts.do(t, ts.admin, "GET", "/api/v1/audit?verify=true", nil, &v)
	if v["verified"] != true || v["checked"].(float64) < 3 {
		t.Errorf("audit verify = %v", v)
	}
}

func TestIdempotentSubmitAndPagination(t *testing.T) {
	ts := newTestServer(t, nil)
	var a, b core.Job
	if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"]}`, &a, "Idempotency-Key", "k1"); got != 201 {
		t.Fatalf("first: %d", got)
	}
	if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"]}`, &b, "Idempotency-Key", "k1"); got != 200 {
		t.Fatalf("retry: %d, want 200", got)
	}
	if a.ID != b.ID {
		t.Fatalf("retry gave job %d, first %d", b.ID, a.ID)
	}
	var jobs []map[string]any
	for i := 0; i < 24; i++ {
		jobs = append(jobs, map[string]any{"command": []string{"true"}, "name": fmt.Sprintf("j%d", i)})
	}
	var bl list[core.Job]
	if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs:batch", map[string]any{"jobs": jobs}, &bl); got != 201 || len(bl.Items) != 24 {
		t.Fatalf("batch: %d, %d items", got, len(bl.Items))
	}
	seen := map[core.JobID]bool{}
	cursor := ""
	pages := 0
	for {
		var l list[core.Job]
		ts.do(t, ts.admin, "GET", "/api/v1/jobs?limit=10&state=pending&cursor="+cursor, nil, &l)
		pages++
		for _, j := range l.Items {
			if seen[j.ID] {
				t.Fatalf("job %d on two pages", j.ID)
			}
			seen[j.ID] = true
			if j.Reason == "" {
				t.Errorf("pending job %d has no reason", j.ID)
			}
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if len(seen) != 25 || pages != 3 {
		t.Errorf("saw %d jobs on %d pages, want 25 on 3", len(seen), pages)
	}
	var p Problem
	if got := ts.do(t, ts.admin, "GET", "/api/v1/jobs?state=dreaming", nil, &p); got != 422 || p.Errors[0].Field != "state" {
		t.Errorf("bad state filter: %d %+v", got, p)
	}
}
