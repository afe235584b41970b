package securitytest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestTenancyMatrix checks who may see and do what across two
// organisations: a global administrator, an organisation administrator of
// acme (carol), a member of acme (alice) and a member of beta (bob).
func TestTenancyMatrix(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	// A job each for alice and bob that waits, so it can be cancelled.
	hold := func(token, project string) int64 {
		return s.submit(token, map[string]any{"project": project, "command": []string{"sleep", "600"}, "accelerators": 1}).ID
	}
	aliceJob, bobJob := hold(ten.alice, "rocket"), hold(ten.bob, "probe")
	who := map[string]string{"admin": s.admin, "carol": ten.carol, "alice": ten.alice, "bob": ten.bob}
	type step struct {
		who, method, path string
		body              any
		want              []int // any of these statuses
	}
	ok, created, hidden, denied := []int{200}, []int{201}, []int{404}, []int{403}
	deniedOrHidden := []int{403, 404}
	steps := []step{
		{"admin", "GET", "/api/v1/orgs/beta", nil, ok},
		{"alice", "GET", "/api/v1/orgs/acme", nil, ok},
		{"alice", "GET", "/api/v1/orgs/beta", nil, hidden},
		{"bob", "GET", "/api/v1/orgs/acme", nil, hidden},
		{"carol", "GET", "/api/v1/orgs/beta", nil, hidden},
		{"alice", "GET", "/api/v1/projects/rocket", nil, ok},
		{"bob", "GET", "/api/v1/projects/rocket", nil, hidden},
		{"carol", "GET", "/api/v1/projects/probe", nil, hidden},
		{"alice", "POST", "/api/v1/orgs", map[string]any{"name": "evil", "kind": "sme", "country": "DE"}, denied},
		{"carol", "POST", "/api/v1/orgs", map[string]any{"name": "evil", "kind": "sme", "country": "DE"}, denied},
		{"carol", "POST", "/api/v1/projects", map[string]any{"name": "rocket2", "org": "acme"}, created},
		{"carol", "POST", "/api/v1/projects", map[string]any{"name": "probe2", "org": "beta"}, deniedOrHidden},
		{"alice", "POST", "/api/v1/projects", map[string]any{"name": "rocket3", "org": "acme"}, denied},
		{"carol", "POST", "/api/v1/users", map[string]any{"name": "dave", "org": "acme", "role": "user"}, created},
		{"carol", "POST", "/api/v1/users", map[string]any{"name": "eve", "org": "beta", "role": "user"}, deniedOrHidden},
		{"carol", "POST", "/api/v1/users", map[string]any{"name": "mallory", "org": "acme", "role": "admin"}, denied},
		{"alice", "POST", "/api/v1/users", map[string]any{"name": "trent", "org": "acme", "role": "user"}, denied},
		{"alice", "GET", "/api/v1/users", nil, denied},
		{"alice", "GET", "/api/v1/users/bob", nil, deniedOrHidden},
		{"bob", "GET", fmt.Sprintf("/api/v1/jobs/%d", aliceJob), nil, hidden},
		{"bob", "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", aliceJob), nil, hidden},
		{"carol", "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", bobJob), nil, hidden},
		{"alice", "GET", "/api/v1/jobs?org=beta", nil, deniedOrHidden},
		{"carol", "GET", "/api/v1/jobs?org=beta", nil, deniedOrHidden},
		{"alice", "POST", "/api/v1/sites/local/drain", nil, denied},
		{"carol", "POST", "/api/v1/sites/local/drain", nil, denied},
		{"alice", "GET", "/api/v1/audit", nil, denied},
		{"carol", "GET", "/api/v1/audit", nil, denied},
		{"carol", "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", aliceJob), nil, ok},
		{"admin", "POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", bobJob), nil, ok},
	}
	for _, st := range steps {
		a := s.do(who[st.who], st.method, st.path, st.body)
		good := false
		for _, w := range st.want {
			good = good || a.status == w
		}
		if !good {
			t.Errorf("%s %s %s: want %v, got %s", st.who, st.method, st.path, st.want, a)
		}
		for _, leak := range []string{"store:", "sql", "daemon:", "sqlite", "pgx"} {
			if a.status >= 400 && strings.Contains(strings.ToLower(string(a.body)), leak) {
				t.Errorf("%s %s %s: the problem names an internal layer (%q): %s", st.who, st.method, st.path, leak, a)
			}
		}
	}
	// Lists show only what the caller's organisation owns.
	names := func(token, path string) []string {
		var l struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		}
		a := s.do(token, "GET", path, nil)
		if a.status == 403 || a.status == 404 {
			return nil // refused outright is as good as an empty list
		}
		if a.status != 200 {
			t.Fatalf("GET %s: %s", path, a)
		}
		a.decode(t, &l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it.Name)
		}
		return out
	}
	for _, c := range []struct {
		who, path   string
		want, never []string
	}{
		{"alice", "/api/v1/orgs", []string{"acme"}, []string{"beta", "default"}},
		{"bob", "/api/v1/orgs", []string{"beta"}, []string{"acme", "default"}},
		{"admin", "/api/v1/orgs", []string{"acme", "beta", "default"}, nil},
		{"alice", "/api/v1/projects", []string{"rocket"}, []string{"probe", "default"}},
		{"bob", "/api/v1/projects", []string{"probe"}, []string{"rocket", "rocket2"}},
		{"bob", "/api/v1/projects?org=acme", nil, []string{"rocket", "rocket2"}},
	} {
		got := strings.Join(names(who[c.who], c.path), ",")
		for _, w := range c.want {
			if !strings.Contains(","+got+",", ","+w+",") {
				t.Errorf("%s GET %s: %q lacks %s", c.who, c.path, got, w)
			}
		}
		for _, n := range c.never {
			if strings.Contains(","+got+",", ","+n+",") {
				t.Errorf("%s GET %s: %q shows %s", c.who, c.path, got, n)
			}
		}
	}
	// And jobs: bob's list holds none of acme's.
	var jl struct {
		Items []json.RawMessage `json:"items"`
	}
	s.mustDo(200, ten.bob, "GET", "/api/v1/jobs", nil).decode(t, &jl)
	for _, raw := range jl.Items {
		if strings.Contains(string(raw), `"acme"`) {
			t.Errorf("bob sees an acme job: %s", raw)
		}
	}
}
