package securitytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRevocationIsImmediate: a revoked token is refused on the very next
// request (no cache outlives a revocation), and rotating the administrator's
// token with `gf tokens rotate-admin` retires the old one at once.
func TestRevocationIsImmediate(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	var tok struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.mustDo(201, ten.alice, "POST", "/api/v1/tokens", map[string]any{"label": "laptop"}).decode(t, &tok)
	s.mustDo(200, tok.Token, "GET", "/api/v1/users/me", nil) // warm whatever could cache it
	s.mustDo(200, tok.Token, "GET", "/api/v1/users/me", nil)
	// bob may not revoke alice's token; nor may he learn it exists.
	if a := s.do(ten.bob, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil); a.status != 403 && a.status != 404 {
		t.Fatalf("bob revoking alice's token: %s", a)
	}
	s.mustDo(200, tok.Token, "GET", "/api/v1/users/me", nil)
	s.mustDo(200, ten.alice, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil)
	if a := s.do(tok.Token, "GET", "/api/v1/users/me", nil); a.status != 401 {
		t.Fatalf("the revoked token still works: %s", a)
	} else if a.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	// The revocation is in the audit log.
	if a := s.mustDo(200, s.admin, "GET", "/api/v1/audit?limit=1000", nil); !strings.Contains(string(a.body), "token") {
		t.Errorf("no token entry in the audit log: %s", a)
	}

	old := s.admin
	out, err := exec.Command(gfBinary(t), "--data", s.data, "tokens", "rotate-admin").CombinedOutput()
	if err != nil {
		t.Fatalf("gf tokens rotate-admin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(s.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := strings.TrimSpace(string(b))
	if fresh == old {
		t.Fatal("rotate-admin left admin.token as it was")
	}
	if a := s.do(old, "GET", "/api/v1/users/me", nil); a.status != 401 {
		t.Fatalf("the old admin token still works after rotation: %s", a)
	}
	s.mustDo(200, fresh, "GET", "/api/v1/users/me", nil)
	s.admin = fresh
}

// TestSlowClientsAreCut: a client that sends half its headers and stops is
// disconnected by the server's header timeout instead of holding a
// connection for minutes. (The body, write and idle timeouts are tested with
// short settings in internal/api.)
func TestSlowClientsAreCut(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	addr := strings.TrimPrefix(s.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("a half-sent request held its connection for over 60 s")
			}
			break // closed by the server
		}
	}
	t.Logf("the server cut a half-sent request after %v", time.Since(start).Round(time.Second))
}
