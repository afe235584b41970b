package api

import (
	"encoding/json"
	"github.com/gigafactory/gigafactory/internal/testutil"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// syncBuffer collects a process's or a goroutine's output for the test.
type syncBuffer = testutil.SyncBuffer

// withLog makes the server log to l.
func withLog(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// logLine is the fields the request and authentication lines carry.
type logLine struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Status   int    `json:"status"`
	Duration *int64 `json:"duration"`
	Bytes    *int64 `json:"bytes"`
	User     string `json:"user"`
	Reason   string `json:"reason"`
	Remote   string `json:"remote"`
}

// Each request is one line with its route's pattern, status, duration,
// bytes and user; a refused authentication is a warning with its reason
// and remote address; no token, nor a piece of one, is ever written.
func TestRequestsAndFailedAuthAreLogged(t *testing.T) {
	var buf syncBuffer
	ts := newTestServer(t, nil, withLog(slog.New(slog.NewJSONHandler(&buf, nil))))
	const unknown = "gf_thisIsNotARealTokenButLooksLikeOne0123456789"
	cases := map[string]struct {
		token, method, path string
		status              int
		want                []logLine // the lines for this request, in order; zero fields are not checked
	}{
		"authenticated": {token: ts.admin, method: "GET", path: "/api/v1/users/me", status: 200,
			want: []logLine{{Level: "INFO", Msg: "request", Method: "GET", Path: "/api/v1/users/{name}", Status: 200, User: "admin"}}},
		"unknown token": {token: unknown, method: "GET", path: "/api/v1/jobs", status: 401,
			want: []logLine{
				{Level: "WARN", Msg: "authentication failed", Reason: "unknown token", Method: "GET", Path: "/api/v1/jobs"},
				{Level: "INFO", Msg: "request", Method: "GET", Path: "/api/v1/jobs", Status: 401},
			}},
		"missing bearer": {method: "DELETE", path: "/api/v1/jobs/7", status: 401,
			want: []logLine{
				{Level: "WARN", Msg: "authentication failed", Reason: "missing bearer", Method: "DELETE", Path: "/api/v1/jobs/{id}"},
				{Level: "INFO", Msg: "request", Method: "DELETE", Path: "/api/v1/jobs/{id}", Status: 401},
			}},
		"unknown path": {token: ts.admin, method: "GET", path: "/api/v1/nope", status: 404,
			want: []logLine{{Level: "INFO", Msg: "request", Method: "GET", Path: "unmatched", Status: 404}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			before := len(buf.String())
			if got := ts.do(t, c.token, c.method, c.path, nil, nil); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			// The line is written as the handler returns, which the
			// client may see a moment before.
			var lines []logLine
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				lines = parseLog(t, buf.String()[before:])
				if len(lines) >= len(c.want) || time.Now().After(deadline) {
					break
				}
			}
			if len(lines) != len(c.want) {
				t.Fatalf("%d lines, want %d: %+v", len(lines), len(c.want), lines)
			}
			for i, w := range c.want {
				g := lines[i]
				if g.Level != w.Level || g.Msg != w.Msg || g.Method != w.Method || g.Path != w.Path || g.Status != w.Status || g.User != w.User || g.Reason != w.Reason {
					t.Errorf("line %d: %+v, want %+v", i, g, w)
				}
				if g.Msg == "request" && (g.Duration == nil || g.Bytes == nil || *g.Bytes <= 0) {
					t.Errorf("line %d has no duration or no bytes: %+v", i, g)
				}
				if g.Msg == "authentication failed" && !strings.HasPrefix(g.Remote, "127.0.0.1:") {
					t.Errorf("line %d: remote %q, want the loopback client", i, g.Remote)
				}
			}
		})
	}
	all := buf.String()
	for _, secret := range []string{ts.admin, unknown, ts.admin[:12], unknown[:12], "Bearer", "Authorization"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q:\n%s", secret, all)
		}
	}
}

func parseLog(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	for _, raw := range strings.Split(strings.TrimSpace(s), "\n") {
		if raw == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", raw, err)
		}
		if l.Msg == "request" || l.Msg == "authentication failed" {
			out = append(out, l)
		}
	}
	return out
}
