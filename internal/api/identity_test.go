package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// TestTokenScopes: a token's scope narrows what its user may do: read only
// reads, submit also submits and cancels jobs, admin all the user may; and
// never more than the user's role.
func TestTokenScopes(t *testing.T) {
	ts := newTestServer(t, nil)
	tokens := map[string]string{}
	for _, scope := range []string{core.ScopeRead, core.ScopeSubmit, core.ScopeAdmin} {
		var made tokenWithSecret
		if code := ts.do(t, ts.admin, "POST", "/api/v1/tokens", map[string]any{"name": scope, "scope": scope}, &made); code != 201 || made.Scope != scope || made.Label != scope {
			t.Fatalf("create %s token: %d %+v", scope, code, made)
		}
		tokens[scope] = made.Token
	}
	// A plain user's admin-scoped token still may not do what an
	// administrator does.
	var ua userWithToken
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "ua", "org": "acme"}, &ua); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	tokens["user-admin"] = ua.Token
	org := func(name string) map[string]any { return map[string]any{"name": name, "kind": "sme", "country": "FR"} }
	cases := []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"read reads", "read", "GET", "/api/v1/orgs", nil, 200},
		{"read reads whoami", "read", "GET", "/api/v1/whoami", nil, 200},
		{"read may not submit", "read", "POST", "/api/v1/jobs", map[string]any{"command": []string{"true"}}, 403},
		{"read may not cancel", "read", "POST", "/api/v1/jobs/1/cancel", nil, 403},
		{"read may not make tokens", "read", "POST", "/api/v1/tokens", nil, 403},
		{"submit may cancel (no such job)", "submit", "POST", "/api/v1/jobs/999/cancel", nil, 404},
		{"submit may not create orgs", "submit", "POST", "/api/v1/orgs", org("o1"), 403},
		{"submit may not make tokens", "submit", "POST", "/api/v1/tokens", nil, 403},
		{"submit may not revoke tokens", "submit", "DELETE", "/api/v1/tokens/1", nil, 403},
		{"admin scope creates orgs", "admin", "POST", "/api/v1/orgs", org("o2"), 201},
		{"admin scope of a user is still a user", "user-admin", "POST", "/api/v1/orgs", org("o3"), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Problem
			if code := ts.do(t, tokens[tc.token], tc.method, tc.path, tc.body, &p); code != tc.want {
				t.Errorf("%s %s with a %s token = %d (%s), want %d", tc.method, tc.path, tc.token, code, p.Detail, tc.want)
			}
		})
	}
	// A submit token submits: refused for what the job says, not for the
	// scope.
	var p Problem
	if code := ts.do(t, tokens["submit"], "POST", "/api/v1/jobs", map[string]any{"command": []string{"true"}, "project": "default"}, &p); code == 403 || code == 401 {
		t.Errorf("submit token submitting = %d (%s), want it past the scope check", code, p.Detail)
	}
}

func TestTokenCreateValidation(t *testing.T) {
	ts := newTestServer(t, nil)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	far := time.Now().Add(10 * 365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown scope", map[string]any{"scope": "root"}, "scope"},
		{"expiry in the past", map[string]any{"expires_at": past}, "expires_at"},
		{"expiry too far", map[string]any{"expires_at": far}, "expires_at"},
		{"name and label differ", map[string]any{"name": "a", "label": "b"}, "name"},
		{"a person's token for them", map[string]any{"user": "admin2"}, "user"},
	}
	must(t, ts.st.CreateUser(context.Background(), core.User{Name: "admin2", Role: core.RoleUser}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Problem
			code := ts.do(t, ts.admin, "POST", "/api/v1/tokens", tc.body, &p)
			if code != 422 || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
				t.Errorf("= %d %+v, want 422 naming %s", code, p, tc.field)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	soon := time.Now().Add(time.Hour)
	var made tokenWithSecret
	if code := ts.do(t, ts.admin, "POST", "/api/v1/tokens", map[string]any{"label": "ci", "expires_at": soon.Format(time.RFC3339Nano)}, &made); code != 201 || made.ExpiresAt == nil || !made.ExpiresAt.Equal(soon.Truncate(time.Microsecond)) {
		t.Fatalf("create expiring token: %d %+v", code, made)
	}
	if code := ts.do(t, made.Token, "GET", "/api/v1/whoami", nil, nil); code != 200 {
		t.Errorf("unexpired token = %d", code)
	}
	// One that has expired (recorded so: no waiting in the test).
	tok, hash := NewToken()
	past := time.Now().Add(-time.Second)
	if _, err := ts.st.GrantToken(ctx, store.TokenGrant{User: "admin", Hash: hash, Scope: core.ScopeAdmin, ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	if code := ts.do(t, tok, "GET", "/api/v1/whoami", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("expired token = %d, want 401", code)
	}
}

// TestServiceAccounts: a service account's tokens are made by its
// organisation's administrators, never by itself.
func TestServiceAccounts(t *testing.T) {
	ts := newTestServer(t, nil)
	var ci, oa, ob userWithToken
	for _, u := range []struct {
		body map[string]any
		out  *userWithToken
	}{
		{map[string]any{"name": "ci", "org": "acme", "kind": "service"}, &ci},
		{map[string]any{"name": "oa", "org": "acme", "role": "org-admin"}, &oa},
		{map[string]any{"name": "ob", "org": "default", "role": "org-admin"}, &ob},
	} {
		if code := ts.do(t, ts.admin, "POST", "/api/v1/users", u.body, u.out); code != 201 {
			t.Fatalf("create %v: %d", u.body, code)
		}
	}
	if ci.User.Kind != core.UserService {
		t.Errorf("service account's kind = %q", ci.User.Kind)
	}
	var p Problem
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "bad", "org": "acme", "kind": "service", "role": "org-admin"}, &p); code != 422 || p.Errors[0].Field != "role" {
		t.Errorf("service org-admin = %d %+v, want 422 naming role", code, p)
	}
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "bad", "kind": "robot"}, &p); code != 422 || p.Errors[0].Field != "kind" {
		t.Errorf("kind robot = %d %+v, want 422 naming kind", code, p)
	}
	cases := []struct {
		name, token string
		body        map[string]any
		want        int
	}{
		{"the account itself", ci.Token, nil, 403},
		{"its org-admin", oa.Token, map[string]any{"user": "ci", "scope": "submit", "name": "pipeline"}, 201},
		{"another org's admin", ob.Token, map[string]any{"user": "ci"}, 404},
		{"a global admin", ts.admin, map[string]any{"user": "ci", "scope": "read"}, 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var made tokenWithSecret
			code := ts.do(t, tc.token, "POST", "/api/v1/tokens", tc.body, &made)
			if code != tc.want {
				t.Fatalf("= %d, want %d", code, tc.want)
			}
			if code != 201 {
				return
			}
			var who core.Whoami
			if code := ts.do(t, made.Token, "GET", "/api/v1/whoami", nil, &who); code != 200 || who.Name != "ci" || who.Kind != core.UserService || who.Token.Scope != tc.body["scope"] {
				t.Errorf("whoami with the new token = %d %+v", code, who)
			}
		})
	}
}

func TestWhoami(t *testing.T) {
	ts := newTestServer(t, nil)
	var who core.Whoami
	if code := ts.do(t, ts.admin, "GET", "/api/v1/whoami", nil, &who); code != 200 {
		t.Fatalf("whoami = %d", code)
	}
	if who.Name != "admin" || who.Org != "default" || len(who.Roles) == 0 || who.Roles[0] != core.RoleAdmin || who.Auth != "token" || who.Token == nil || who.Token.ID == 0 || who.Token.Scope != core.ScopeAdmin {
		t.Errorf("whoami = %+v", who)
	}
	// Project roles follow the global one.
	must(t, ts.st.AddMember(context.Background(), core.Membership{Project: "rocket", User: "admin", Role: core.ProjectPI, AddedAt: time.Now()}))
	if code := ts.do(t, ts.admin, "GET", "/api/v1/whoami", nil, &who); code != 200 || len(who.Roles) != 2 || who.Roles[1] != "pi:rocket" {
		t.Errorf("whoami of a PI = %d %+v, want roles [admin pi:rocket]", code, who.Roles)
	}
	if code := ts.do(t, "", "GET", "/api/v1/whoami", nil, nil); code != 401 {
		t.Errorf("whoami without a token = %d, want 401", code)
	}
}
