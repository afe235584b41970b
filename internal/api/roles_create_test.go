package api

import (
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestCreateAccessRoles: a global administrator makes allocators and
// reviewers with POST /users (gf users create --role), which the access
// process needs; an org-admin may not grant these cross-organisation roles,
// and an unknown role is refused naming the field.
func TestCreateAccessRoles(t *testing.T) {
	ts := newTestServer(t, nil)
	var oa userWithToken
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "oa", "org": "default", "role": core.RoleOrgAdmin}, &oa); code != 201 {
		t.Fatalf("create org-admin: %d", code)
	}
	cases := []struct {
		name, token, role string
		want              int
		field             string
	}{
		{"admin makes an allocator", ts.admin, core.RoleAllocator, 201, ""},
		{"admin makes a reviewer", ts.admin, core.RoleReviewer, 201, ""},
		{"org-admin makes an allocator", oa.Token, core.RoleAllocator, 403, ""},
		{"org-admin makes a reviewer", oa.Token, core.RoleReviewer, 403, ""},
		{"unknown role", ts.admin, "overlord", 422, "role"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out userWithToken
			var p Problem
			body := map[string]any{"name": "u" + string(rune('a'+i)), "org": "default", "role": tc.role}
			var dst any = &out
			if tc.want != 201 {
				dst = &p
			}
			if code := ts.do(t, tc.token, "POST", "/api/v1/users", body, dst); code != tc.want {
				t.Fatalf("= %d, want %d (%+v)", code, tc.want, p)
			}
			if tc.want == 201 && (out.User.Role != tc.role || out.Token == "") {
				t.Errorf("created %+v, want role %s and a token", out, tc.role)
			}
			if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
				t.Errorf("problem %+v, want one naming %s", p, tc.field)
			}
		})
	}
}
