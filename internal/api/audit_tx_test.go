package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/gigafactory/gigafactory/internal/store"
)

// TestAuditCommitsWithTheChange checks that a handler's audit entry and
// its change commit or fail together: a write the store refuses (a name
// taken, a token already gone) leaves no entry behind, one that succeeds
// leaves exactly one, named after the object it made.
func TestAuditCommitsWithTheChange(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	count := func(action, object string) int {
		t.Helper()
		es, err := ts.st.FindAudit(ctx, store.AuditFilter{Action: action, Object: object})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es { // the filters match prefixes
			if e.Action == action && e.Object == object {
				n++
			}
		}
		return n
	}
	var tok tokenWithSecret
	steps := []struct {
		name           string
		method, path   string
		body           any
		out            any
		status         int
		action, object string
		want           int
	}{
		{"org created", "POST", "/api/v1/orgs", `{"name":"beta","kind":"sme","country":"FR"}`, nil, 201, "org.create", "org/beta", 1},
		{"org name taken", "POST", "/api/v1/orgs", `{"name":"beta","kind":"sme","country":"FR"}`, nil, 409, "org.create", "org/beta", 1},
		{"org made outside the API is taken", "POST", "/api/v1/orgs", `{"name":"acme","kind":"sme","country":"FR"}`, nil, 409, "org.create", "org/acme", 0},
		{"project created", "POST", "/api/v1/projects", `{"name":"moon","org":"beta"}`, nil, 201, "project.create", "project/moon", 1},
		{"project name taken", "POST", "/api/v1/projects", `{"name":"moon","org":"beta"}`, nil, 409, "project.create", "project/moon", 1},
		{"user created", "POST", "/api/v1/users", `{"name":"bob","org":"beta","role":"user"}`, nil, 201, "user.create", "user/bob", 1},
		{"user name taken", "POST", "/api/v1/users", `{"name":"admin","org":"beta","role":"user"}`, nil, 409, "user.create", "user/admin", 0},
		{"token created", "POST", "/api/v1/tokens", `{"label":"ci"}`, &tok, 201, "token.create", "token/new", 0},
	}
	for _, st := range steps {
		if got := ts.do(t, ts.admin, st.method, st.path, st.body, st.out); got != st.status {
			t.Fatalf("%s: %s %s: status %d, want %d", st.name, st.method, st.path, got, st.status)
		}
		if got := count(st.action, st.object); got != st.want {
			t.Errorf("%s: %d %s entries for %s, want %d", st.name, got, st.action, st.object, st.want)
		}
	}
	// The token's entry is named after the id its transaction drew.
	obj := fmt.Sprintf("token/%d", tok.ID)
	if got := count("token.create", obj); got != 1 {
		t.Errorf("%d token.create entries for %s, want 1", got, obj)
	}
	path := fmt.Sprintf("/api/v1/tokens/%d", tok.ID)
	for i, want := range []int{200, 404} {
		if got := ts.do(t, ts.admin, "DELETE", path, nil, nil); got != want {
			t.Fatalf("DELETE %s, try %d: status %d, want %d", path, i+1, got, want)
		}
		if got := count("token.revoke", obj); got != 1 {
			t.Errorf("after DELETE %s, try %d: %d token.revoke entries, want 1", path, i+1, got)
		}
	}
	// The store refuses the write itself: the token is gone, so the
	// revocation the entry was attached to rolls back, and the entry with it.
	actx := store.WithAudit(ctx, store.AuditEntry{Actor: "admin", Action: "token.revoke", Object: obj, Detail: "again"})
	if err := ts.st.RevokeToken(actx, tok.ID); err == nil {
		t.Fatalf("revoking token %d twice: no error", tok.ID)
	}
	if store.AuditWritten(actx) {
		t.Errorf("a refused revocation reports its entry written")
	}
	if got := count("token.revoke", obj); got != 1 {
		t.Errorf("after a refused revocation: %d token.revoke entries, want 1", got)
	}
	if _, err := ts.st.VerifyAudit(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}
