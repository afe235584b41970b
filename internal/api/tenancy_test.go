package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// tenants is a server with two organisations, acme (A) and beta (B), and
// the four kinds of caller of the tenancy matrix.
type tenants struct {
	*testServer
	tokens map[string]string // caller → token
	seq    atomic.Int64
}

// Callers of the matrix.
const (
	globalAdmin = "global admin"
	orgAdminA   = "org-admin of A"
	userA       = "user of A"
	userB       = "user of B"
)

func newTenants(t *testing.T) *tenants {
	t.Helper()
	// One small site, and a large one that is down: jobs asking for 16
	// accelerators are accepted (the large site may come back) and stay
	// pending.
	down := core.Site{ID: "big", Name: "down for now", Kind: core.SiteLocal, Country: "LU", Driver: "local", State: core.SiteDown,
		Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 16, Nodes: 1}}}
	ts := newTestServer(t, append(localSite(1), down))
	tn := &tenants{testServer: ts, tokens: map[string]string{globalAdmin: ts.admin}}
	if got := ts.do(t, ts.admin, "POST", "/api/v1/orgs", `{"name":"beta","kind":"sme","country":"FR"}`, nil); got != 201 {
		t.Fatalf("create org beta: %d", got)
	}
	if got := ts.do(t, ts.admin, "POST", "/api/v1/projects", `{"name":"bproj","org":"beta","description":"secret plans","budget_accelerator_hours":99}`, nil); got != 201 {
		t.Fatalf("create project bproj: %d", got)
	}
	for _, u := range []struct{ caller, name, org, role string }{
		{orgAdminA, "oa", "acme", core.RoleOrgAdmin},
		{userA, "ua", "acme", core.RoleUser},
		{"", "ua2", "acme", core.RoleUser},
		{userB, "ub", "beta", core.RoleUser},
		{"", "ub2", "beta", core.RoleUser},
	} {
		var c userWithToken
		if got := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]string{"name": u.name, "org": u.org, "role": u.role}, &c); got != 201 {
			t.Fatalf("create user %s: %d", u.name, got)
		}
		tn.tokens[u.caller] = c.Token
		tn.tokens[u.name] = c.Token
	}
	return tn
}

// job submits a pending job to project as user and returns its id.
func (tn *tenants) job(t *testing.T, user, project string) core.JobID {
	t.Helper()
	var j core.Job
	body := fmt.Sprintf(`{"command":["true"],"accelerators":16,"project":%q}`, project)
	if got := tn.do(t, tn.tokens[user], "POST", "/api/v1/jobs", body, &j); got != 201 {
		t.Fatalf("%s submits to %s: %d", user, project, got)
	}
	return j.ID
}

func (tn *tenants) unique(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, tn.seq.Add(1))
}

// TestTenancyMatrix runs each action as each kind of caller against a real
// HTTP server over a real store and checks the status (and, for lists,
// what is listed).
func TestTenancyMatrix(t *testing.T) {
	tn := newTenants(t)
	type action struct {
		// do performs the action as caller and returns the status and,
		// for lists, the names listed.
		do   func(t *testing.T, caller string) (int, []string)
		want map[string]int
		// listed is what a list shows each caller, when the action lists.
		listed map[string][]string
	}
	names := func(raw json.RawMessage, key string) []string {
		var l struct{ Items []map[string]any }
		_ = json.Unmarshal(raw, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, fmt.Sprint(it[key]))
		}
		sort.Strings(out)
		return out
	}
	get := func(path, key string) func(t *testing.T, caller string) (int, []string) {
		return func(t *testing.T, caller string) (int, []string) {
			var raw json.RawMessage
			code := tn.do(t, tn.tokens[caller], "GET", path, nil, &raw)
			if key == "" {
				return code, nil
			}
			return code, names(raw, key)
		}
	}
	post := func(path string, body func() string) func(t *testing.T, caller string) (int, []string) {
		return func(t *testing.T, caller string) (int, []string) {
			return tn.do(t, tn.tokens[caller], "POST", path, body(), nil), nil
		}
	}
	cancel := func(owner, project string) func(t *testing.T, caller string) (int, []string) {
		return func(t *testing.T, caller string) (int, []string) {
			id := tn.job(t, owner, project)
			return tn.do(t, tn.tokens[caller], "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", id), nil, nil), nil
		}
	}
	all := func(code int) map[string]int {
		return map[string]int{globalAdmin: code, orgAdminA: code, userA: code, userB: code}
	}
	tests := map[string]action{
		"list orgs": {do: get("/api/v1/orgs", "name"), want: all(200), listed: map[string][]string{
			globalAdmin: {"acme", "beta", "default"}, orgAdminA: {"acme"}, userA: {"acme"}, userB: {"beta"}}},
		"get org A":         {do: get("/api/v1/orgs/acme", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 200, userA: 200, userB: 404}},
		"get org B":         {do: get("/api/v1/orgs/beta", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 200}},
		"get a missing org": {do: get("/api/v1/orgs/nowhere", ""), want: all(404)},
		"list projects": {do: get("/api/v1/projects", "name"), want: all(200), listed: map[string][]string{
			globalAdmin: {"bproj", "default", "rocket"}, orgAdminA: {"rocket"}, userA: {"rocket"}, userB: {"bproj"}}},
		"list projects of B": {do: get("/api/v1/projects?org=beta", "name"), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 200}},
		"get project A":      {do: get("/api/v1/projects/rocket", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 200, userA: 200, userB: 404}},
		"get project B":      {do: get("/api/v1/projects/bproj", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 200}},
		"create project in A": {do: post("/api/v1/projects", func() string { return fmt.Sprintf(`{"name":%q,"org":"acme"}`, tn.unique("pa")) }),
			want: map[string]int{globalAdmin: 201, orgAdminA: 201, userA: 403, userB: 403}},
		"create project in B": {do: post("/api/v1/projects", func() string { return fmt.Sprintf(`{"name":%q,"org":"beta"}`, tn.unique("pb")) }),
			want: map[string]int{globalAdmin: 201, orgAdminA: 403, userA: 403, userB: 403}},
		"create user in A": {do: post("/api/v1/users", func() string { return fmt.Sprintf(`{"name":%q,"org":"acme"}`, tn.unique("na")) }),
			want: map[string]int{globalAdmin: 201, orgAdminA: 201, userA: 403, userB: 403}},
		"create user in B": {do: post("/api/v1/users", func() string { return fmt.Sprintf(`{"name":%q,"org":"beta"}`, tn.unique("nb")) }),
			want: map[string]int{globalAdmin: 201, orgAdminA: 403, userA: 403, userB: 403}},
		"create a global admin": {do: post("/api/v1/users", func() string { return fmt.Sprintf(`{"name":%q,"org":"acme","role":"admin"}`, tn.unique("ga")) }),
			want: map[string]int{globalAdmin: 201, orgAdminA: 403, userA: 403, userB: 403}},
		"list users": {do: get("/api/v1/users", "name"), want: map[string]int{globalAdmin: 200, orgAdminA: 200, userA: 403, userB: 403}},
		// ua2's job: ua may not cancel a colleague's job, oa may.
		"cancel a job of A": {do: cancel("ua2", "rocket"), want: map[string]int{globalAdmin: 200, orgAdminA: 200, userA: 403, userB: 404}},
		"cancel a job of B": {do: cancel("ub2", "bproj"), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 403}},
		"cancel own job": {do: func(t *testing.T, caller string) (int, []string) {
			project := map[string]string{globalAdmin: "default", orgAdminA: "rocket", userA: "rocket", userB: "bproj"}[caller]
			id := tn.job(t, caller, project)
			return tn.do(t, tn.tokens[caller], "DELETE", fmt.Sprintf("/api/v1/jobs/%d", id), nil, nil), nil
		}, want: all(200)},
		"list jobs of B": {do: get("/api/v1/jobs?org=beta", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 200}},
		"submit to B's project": {do: func(t *testing.T, caller string) (int, []string) {
			return tn.do(t, tn.tokens[caller], "POST", "/api/v1/jobs", `{"command":["true"],"accelerators":16,"project":"bproj"}`, nil), nil
		}, want: map[string]int{globalAdmin: 201, orgAdminA: 422, userA: 422, userB: 201}},
		"create org":  {do: post("/api/v1/orgs", func() string { return fmt.Sprintf(`{"name":%q,"kind":"sme","country":"DE"}`, tn.unique("o")) }), want: map[string]int{globalAdmin: 201, orgAdminA: 403, userA: 403, userB: 403}},
		"site drain":  {do: post("/api/v1/sites/local/drain", func() string { return "" }), want: map[string]int{globalAdmin: 200, orgAdminA: 403, userA: 403, userB: 403}},
		"audit":       {do: get("/api/v1/audit", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 403, userA: 403, userB: 403}},
		"get user ub": {do: get("/api/v1/users/ub", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 404, userA: 404, userB: 200}},
		"get user ua": {do: get("/api/v1/users/ua", ""), want: map[string]int{globalAdmin: 200, orgAdminA: 200, userA: 200, userB: 404}},
	}
	callers := []string{globalAdmin, orgAdminA, userA, userB}
	// The lists run first, before other actions add to what they list.
	order := make([]string, 0, len(tests))
	for name := range tests {
		order = append(order, name)
	}
	sort.Slice(order, func(i, j int) bool {
		li, lj := tests[order[i]].listed != nil, tests[order[j]].listed != nil
		if li != lj {
			return li
		}
		return order[i] < order[j]
	})
	for _, name := range order {
		a := tests[name]
		t.Run(name, func(t *testing.T) {
			for _, c := range callers {
				got, listed := a.do(t, c)
				if got != a.want[c] {
					t.Errorf("%s: status %d, want %d", c, got, a.want[c])
				}
				if want, ok := a.listed[c]; ok && !slices.Equal(listed, want) {
					t.Errorf("%s: lists %v, want %v", c, listed, want)
				}
			}
		})
	}
	// The org-admin's list of users holds acme's only.
	var l list[core.User]
	tn.do(t, tn.tokens[orgAdminA], "GET", "/api/v1/users", nil, &l)
	for _, u := range l.Items {
		if u.Org != "acme" {
			t.Errorf("org-admin of acme lists user %s of %q", u.Name, u.Org)
		}
	}
}

// TestProblemsNameNoInternalLayer provokes every kind of error answer and
// scans the problem documents for the text of lower layers.
func TestProblemsNameNoInternalLayer(t *testing.T) {
	tn := newTenants(t)
	ua := tn.tokens[userA]
	id := tn.job(t, "ua", "rocket")
	reqs := []struct{ token, method, path, body string }{
		{tn.admin, "GET", "/api/v1/orgs/nowhere", ""},
		{ua, "GET", "/api/v1/orgs/beta", ""},
		{tn.admin, "GET", "/api/v1/projects/nowhere", ""},
		{tn.admin, "GET", "/api/v1/users/nobody", ""},
		{tn.admin, "GET", "/api/v1/jobs/999999", ""},
		{tn.admin, "GET", "/api/v1/jobs/abc", ""},
		{tn.admin, "GET", "/api/v1/jobs?cursor=garbage!", ""},
		{tn.admin, "GET", "/api/v1/sites/mars", ""},
		{tn.admin, "POST", "/api/v1/orgs", `{"name":"acme","kind":"sme","country":"DE"}`},
		{tn.admin, "POST", "/api/v1/projects", `{"name":"rocket","org":"acme"}`},
		{tn.admin, "POST", "/api/v1/projects", `{"name":"newp","org":"nowhere"}`},
		{tn.admin, "POST", "/api/v1/users", `{"name":"ua","org":"acme"}`},
		{tn.admin, "DELETE", "/api/v1/tokens/999999", ""},
		{ua, "GET", fmt.Sprintf("/api/v1/jobs/%d/logs", id), ""},
		{ua, "GET", "/api/v1/tokens?user=ub", ""},
		{tn.admin, "POST", "/api/v1/jobs", `{"command":["true"],"project":"nowhere"}`},
		{tn.admin, "POST", "/api/v1/jobs", `{`},
		{tn.admin, "POST", "/api/v1/orgs", `{"name":`},
		{"gf_wrong", "GET", "/api/v1/jobs", ""},
		{tn.admin, "GET", "/api/v1/nothing", ""},
	}
	for _, rq := range reqs {
		var raw json.RawMessage
		code := tn.do(t, rq.token, rq.method, rq.path, rq.body, &raw)
		if code < 400 {
			t.Errorf("%s %s: status %d, want an error", rq.method, rq.path, code)
			continue
		}
		text := strings.ToLower(string(raw))
		for _, leak := range []string{"store:", "sql", "daemon:", "driver:", "no rows", "%!"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s %s: problem names an internal layer (%q): %s", rq.method, rq.path, leak, raw)
			}
		}
	}
	var p Problem
	tn.do(t, tn.admin, "GET", "/api/v1/orgs/nowhere", nil, &p)
	if p.Detail != `no organisation "nowhere"` {
		t.Errorf("missing org: detail %q", p.Detail)
	}
}

// TestTokensRevokedAtOnce: a revoked token is refused on the very next
// request; listing never shows a secret; rights over others' tokens follow
// the tenancy.
func TestTokensRevokedAtOnce(t *testing.T) {
	tn := newTenants(t)
	ua := tn.tokens[userA]
	// ua makes a second token and lists both.
	var made tokenWithSecret
	if got := tn.do(t, ua, "POST", "/api/v1/tokens", `{"label":"laptop"}`, &made); got != 201 || !strings.HasPrefix(made.Token, "gf_") {
		t.Fatalf("create token: %d %+v", got, made)
	}
	if got := tn.do(t, made.Token, "GET", "/api/v1/users/me", nil, nil); got != 200 {
		t.Fatalf("new token: %d", got)
	}
	var l list[tokenInfo]
	var raw json.RawMessage
	tn.do(t, ua, "GET", "/api/v1/tokens", nil, &raw)
	_ = json.Unmarshal(raw, &l)
	if len(l.Items) != 2 || strings.Contains(string(raw), made.Token) || strings.Contains(string(raw), "hash") {
		t.Fatalf("list: %s", raw)
	}
	current := 0
	for _, tk := range l.Items {
		if tk.Current {
			current++
			if tk.ID == made.ID {
				t.Errorf("the token in use is %d, listed current is the new one", tk.ID)
			}
		}
		if tk.LastUsed == nil && tk.ID != made.ID {
			t.Errorf("token %d in use has no last_used", tk.ID)
		}
	}
	if current != 1 {
		t.Errorf("%d tokens marked current, want 1", current)
	}
	tests := map[string]struct {
		caller string
		want   int
	}{
		"user of B revokes it":   {userB, 404},
		"another user of A":      {"ua2", 404},
		"org-admin of A":         {orgAdminA, 200},
		"global admin, after it": {globalAdmin, 404},
	}
	for _, name := range []string{"user of B revokes it", "another user of A", "org-admin of A", "global admin, after it"} {
		tc := tests[name]
		if got := tn.do(t, tn.tokens[tc.caller], "DELETE", fmt.Sprintf("/api/v1/tokens/%d", made.ID), nil, nil); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
		if tc.want == 200 {
			// The very next request with it fails.
			if got := tn.do(t, made.Token, "GET", "/api/v1/users/me", nil, nil); got != 401 {
				t.Fatalf("revoked token: %d, want 401", got)
			}
		}
	}
	// A user revokes their own token, the one in use: the next request
	// with it fails.
	var own list[tokenInfo]
	tn.do(t, ua, "GET", "/api/v1/tokens", nil, &own)
	if len(own.Items) != 1 {
		t.Fatalf("ua has %d tokens left", len(own.Items))
	}
	if got := tn.do(t, ua, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", own.Items[0].ID), nil, nil); got != 200 {
		t.Fatalf("revoke own: %d", got)
	}
	if got := tn.do(t, ua, "GET", "/api/v1/jobs", nil, nil); got != 401 {
		t.Errorf("after revoking itself: %d, want 401", got)
	}
	// The admin sees ub's tokens; the org-admin of A does not.
	if got := tn.do(t, tn.admin, "GET", "/api/v1/tokens?user=ub", nil, nil); got != 200 {
		t.Errorf("admin lists ub's tokens: %d", got)
	}
	if got := tn.do(t, tn.tokens[orgAdminA], "GET", "/api/v1/tokens?user=ub", nil, nil); got != 404 {
		t.Errorf("org-admin of A lists ub's tokens: %d, want 404", got)
	}
	// Token creation and revocation are audited.
	var audit list[map[string]any]
	tn.do(t, tn.admin, "GET", "/api/v1/audit?limit=1000", nil, &audit)
	seen := map[string]int{}
	for _, e := range audit.Items {
		seen[fmt.Sprint(e["action"])]++
	}
	if seen["token.create"] != 1 || seen["token.revoke"] != 2 {
		t.Errorf("audit actions %v: want 1 token.create, 2 token.revoke", seen)
	}
}
