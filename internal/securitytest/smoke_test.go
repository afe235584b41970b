package securitytest

import "testing"

// TestHarness checks the harness itself: a server starts, tenants are
// created, a member's job runs to completion and its output is served.
func TestHarness(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	j := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sh", "-c", "echo hello"}})
	j = s.waitEnd(ten.alice, j.ID)
	if j.State != "completed" {
		t.Fatalf("job ended %s: %s", j.State, j.Reason)
	}
	if a := s.logs(ten.alice, j.ID, "stdout"); a.status != 200 || string(a.body) != "hello\n" {
		t.Fatalf("logs: %s", a)
	}
}
