package api

import (
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestOperatorRole: a global administrator makes an operator of named
// sites (422 naming the field for sites that do not exist, none, or an
// organisation); the operator drains and resumes their own site, not
// another (403), and may not administer anything else.
func TestOperatorRole(t *testing.T) {
	other := core.Site{ID: "other", Name: "someone else's", Kind: core.SiteLocal, Country: "LU", Driver: "local", State: core.SiteActive,
		Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 1, Nodes: 1}}}
	ts := newTestServer(t, append(localSite(1), other))
	var oa userWithToken
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "oa", "org": "acme", "role": core.RoleOrgAdmin}, &oa); code != 201 {
		t.Fatalf("create org-admin: %d", code)
	}
	creates := []struct {
		name  string
		token string
		body  map[string]any
		want  int
		field string
	}{
		{"no sites", ts.admin, map[string]any{"name": "op1", "role": "operator"}, 422, "sites"},
		{"unknown site", ts.admin, map[string]any{"name": "op1", "role": "operator", "sites": []string{"local", "mars"}}, 422, "sites[1]"},
		{"a site twice", ts.admin, map[string]any{"name": "op1", "role": "operator", "sites": []string{"local", "local"}}, 422, "sites[1]"},
		{"in an organisation", ts.admin, map[string]any{"name": "op1", "org": "acme", "role": "operator", "sites": []string{"local"}}, 422, "org"},
		{"sites for a user", ts.admin, map[string]any{"name": "u1", "org": "acme", "role": "user", "sites": []string{"local"}}, 422, "sites"},
		{"by an org-admin", oa.Token, map[string]any{"name": "op1", "role": "operator", "sites": []string{"local"}}, 403, ""},
		{"by the admin", ts.admin, map[string]any{"name": "op", "role": "operator", "sites": []string{"local"}}, 201, ""},
	}
	var op userWithToken
	for _, tc := range creates {
		var p Problem
		var dst any = &p
		if tc.want == 201 {
			dst = &op
		}
		code := ts.do(t, tc.token, "POST", "/api/v1/users", tc.body, dst)
		expect(t, "create an operator: "+tc.name, code, tc.want, p, tc.field)
	}
	if len(op.User.Sites) != 1 || op.User.Sites[0] != "local" {
		t.Fatalf("created operator %+v, want sites [local]", op.User)
	}
	steps := []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/v1/sites/local/drain", 200},
		{"POST", "/api/v1/sites/local/resume", 200},
		{"POST", "/api/v1/sites/other/drain", 403},
		{"POST", "/api/v1/sites/nowhere/drain", 403}, // not theirs, whether or not it exists
		{"GET", "/api/v1/users/me", 200},
		{"GET", "/api/v1/users", 403},
		{"GET", "/api/v1/projects/rocket", 404},
		{"GET", "/api/v1/audit", 403},
		{"POST", "/api/v1/orgs", 403},
	}
	for _, st := range steps {
		var body any
		if st.method == "POST" && st.path == "/api/v1/orgs" {
			body = map[string]any{"name": "evil", "kind": "sme", "country": "DE"}
		}
		if code := ts.do(t, op.Token, st.method, st.path, body, nil); code != st.want {
			t.Errorf("operator %s %s = %d, want %d", st.method, st.path, code, st.want)
		}
	}
	var me core.User
	ts.do(t, op.Token, "GET", "/api/v1/users/me", nil, &me)
	if me.Role != core.RoleOperator || len(me.Sites) != 1 {
		t.Errorf("GET /users/me as the operator = %+v, want role operator with its site", me)
	}
}
