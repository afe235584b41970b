package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/store"
)

// TestAuditFailedLogins: a flood of bad tokens from one address makes one
// audit entry a minute, with the address and the reason, never the token.
func TestAuditFailedLogins(t *testing.T) {
	ts := newTestServer(t, nil)
	const secret = "gf_not-a-real-token-but-secret"
	for range 25 {
		if got := ts.do(t, secret, "GET", "/api/v1/jobs", nil, nil); got != 401 {
			t.Fatalf("bad token: %d, want 401", got)
		}
	}
	var l list[store.AuditEntry]
	ts.do(t, ts.admin, "GET", "/api/v1/audit?action=auth.fail", nil, &l)
	if len(l.Items) != 1 {
		t.Fatalf("25 failed logins made %d audit entries, want 1: %+v", len(l.Items), l.Items)
	}
	e := l.Items[0]
	if e.Object != "remote/127.0.0.1" || !strings.Contains(e.Detail, "unknown token") || strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, "gf_") {
		t.Errorf("entry %+v; want remote/127.0.0.1, the reason, and no token", e)
	}
}

// TestAuthFailuresWindow: the first failure of an address in a minute is
// written, the rest counted and reported with the next one written.
func TestAuthFailuresWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	type step struct {
		addr  string
		at    time.Duration
		write bool
		held  int
	}
	steps := []step{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", 2 * time.Second, true, 0},
		{"a", 30 * time.Second, false, 0},
		{"a", 61 * time.Second, true, 2}, // a new window: two held back
		{"b", 62 * time.Second, true, 0},
		{"b", 63 * time.Second, false, 0},
	}
	var a authFailures
	for i, s := range steps {
		write, held := a.note(s.addr, t0.Add(s.at))
		if write != s.write || held != s.held {
			t.Errorf("step %d (%s at %v): write %t, held %d; want %t, %d", i, s.addr, s.at, write, held, s.write, s.held)
		}
	}
	// Beyond maxAuthAddrs addresses, the rest share one entry.
	var many authFailures
	writes := 0
	for i := range maxAuthAddrs + 100 {
		if w, _ := many.note(strings.Repeat("x", 1)+string(rune(i+1000)), t0); w {
			writes++
		}
	}
	if writes != maxAuthAddrs+1 {
		t.Errorf("%d addresses made %d entries, want %d", maxAuthAddrs+100, writes, maxAuthAddrs+1)
	}
}

func TestAuditLogFilters(t *testing.T) {
	ts := newTestServer(t, localSite(4))
	for _, path := range []string{"/api/v1/sites/local/drain", "/api/v1/sites/local/resume"} {
		if got := ts.do(t, ts.admin, "POST", path, nil, nil); got != 200 {
			t.Fatalf("POST %s: %d", path, got)
		}
	}
	tests := map[string]struct {
		query string
		want  []string // actions
	}{
		"action":        {"action=site.drain", []string{"site.drain"}},
		"action prefix": {"action=site.", []string{"site.drain", "site.resume"}},
		"object":        {"object=site/local", []string{"site.drain", "site.resume"}},
		"actor":         {"actor=admin&object=site/", []string{"site.drain", "site.resume"}},
		"other actor":   {"actor=nobody", nil},
		"until":         {"action=site.&until=2000-01-01T00:00:00Z", nil},
		"since":         {"action=site.&since=2000-01-01T00:00:00Z", []string{"site.drain", "site.resume"}},
	}
	for name, tc := range tests {
		var l list[store.AuditEntry]
		if got := ts.do(t, ts.admin, "GET", "/api/v1/audit?"+tc.query, nil, &l); got != 200 {
			t.Fatalf("%s: %d", name, got)
		}
		var got []string
		for _, e := range l.Items {
			got = append(got, e.Action)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: ?%s gave %v, want %v", name, tc.query, got, tc.want)
		}
	}
	var p Problem
	if got := ts.do(t, ts.admin, "GET", "/api/v1/audit?since=yesterday", nil, &p); got != 422 || !strings.Contains(p.Detail+p.Title+strings.Join(fieldNames(p), " "), "since") {
		t.Errorf("since=yesterday: %d %+v; want 422 naming since", got, p)
	}
}

func fieldNames(p Problem) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// TestAuditVerifySigned: with a signer, verify checks the checkpoints and
// /audit/key gives the key they verify with.
func TestAuditVerifySigned(t *testing.T) {
	ts := newTestServer(t, localSite(4))
	var k auditKeyAnswer
	if got := ts.do(t, ts.admin, "GET", "/api/v1/audit/key", nil, &k); got != 404 {
		t.Errorf("audit key without a signer: %d, want 404", got)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	ts.st.SetAuditSigner(key, 2)
	for _, path := range []string{"/api/v1/sites/local/drain", "/api/v1/sites/local/resume"} {
		ts.do(t, ts.admin, "POST", path, nil, nil)
	}
	if got := ts.do(t, ts.admin, "GET", "/api/v1/audit/key", nil, &k); got != 200 || k.PublicKey != store.FormatAuditPublicKey(pub) || k.KeyID != store.AuditKeyID(pub) {
		t.Errorf("audit key: %d %+v; want %x", got, k, pub)
	}
	var v auditVerification
	ts.do(t, ts.admin, "GET", "/api/v1/audit?verify=true", nil, &v)
	if !v.Verified || !v.Report.KeyChecked || v.Report.Checkpoints < 1 || v.Report.SignedThrough < 2 {
		t.Errorf("verify = %+v; want verified against the key with a checkpoint", v)
	}
}
