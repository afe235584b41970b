package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

// vmHWM reads this process's peak resident set from /proc ("" elsewhere).
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// commandSpec is a JSON spec whose command has n entries of word.
func commandSpec(n int, word string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"command":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(word))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// send posts body, optionally without a Content-Length (chunked), and
// returns the status and the problem answered.
func (ts *testServer) send(t *testing.T, path string, body []byte, chunked bool) (int, Problem) {
	t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length: sent chunked
	}
	req, err := http.NewRequest("POST", ts.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var p Problem
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &p)
	return resp.StatusCode, p
}

// TestOversizeRefused sends what inflated the server before (a 4 MB spec
// of a million command words, a 28 MB batch) and the like, and checks each
// is refused with the limit or the field named. The peak RSS is logged, not
// asserted.
func TestOversizeRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	t.Logf("VmHWM before: %s", vmHWM())
	million := commandSpec(1_000_000, "a") // ~4 MB
	var batch bytes.Buffer
	batch.WriteString(`{"jobs":[`)
	one := commandSpec(2000, "aaaaaaaaaa")
	for i := 0; batch.Len() < 28<<20; i++ {
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.Write(one)
	}
	batch.WriteString(`]}`)
	envSpec := func(n int) []byte {
		env := map[string]string{}
		for i := range n {
			env[fmt.Sprintf("V%d", i)] = "x"
		}
		b, _ := json.Marshal(map[string]any{"command": []string{"true"}, "env": env})
		return b
	}
	bigDesc := `{"name":"p1","org":"acme","description":"` + strings.Repeat("\\u0000\\u001b", 1_500_000/12) + `"}`
	tests := map[string]struct {
		path    string
		body    []byte
		chunked bool
		status  int
		field   string // for 422
		limit   int    // for 413: the limit the detail names
	}{
		"4 MB spec, a million words":          {"/api/v1/jobs", million, false, 413, "", MaxJobBody},
		"4 MB spec, chunked":                  {"/api/v1/jobs", million, true, 413, "", MaxJobBody},
		"28 MB batch":                         {"/api/v1/jobs:batch", batch.Bytes(), false, 413, "", MaxBatchBody},
		"28 MB batch, chunked":                {"/api/v1/jobs:batch", batch.Bytes(), true, 413, "", MaxBatchBody},
		"command entries within the body":     {"/api/v1/jobs", commandSpec(300_000, "a"), false, 422, "command", 0},
		"env entries":                         {"/api/v1/jobs", envSpec(spec.MaxEnvEntries + 1), false, 422, "env", 0},
		"1.5 MB description":                  {"/api/v1/projects", []byte(bigDesc), false, 413, "", MaxBody},
		"description with NUL and ESC":        {"/api/v1/projects", []byte(`{"name":"p2","org":"acme","description":"a\u0000\u001b[2J"}`), false, 422, "description", 0},
		"long description":                    {"/api/v1/projects", []byte(`{"name":"p3","org":"acme","description":"` + strings.Repeat("d", maxDescription+1) + `"}`), false, 422, "description", 0},
		"email with a newline":                {"/api/v1/users", []byte(`{"name":"u1","org":"acme","email":"a@b\nBcc: c@d"}`), false, 422, "email", 0},
		"token label with ESC":                {"/api/v1/tokens", []byte(`{"label":"\u001b]0;x\u0007"}`), false, 422, "label", 0},
		"batch job over the single-job limit": {"/api/v1/jobs:batch", []byte(`{"jobs":[` + string(commandSpec(1, strings.Repeat("a", MaxJobBody))) + `]}`), false, 422, "jobs[0]", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, p := ts.send(t, tc.path, tc.body, tc.chunked)
			if got != tc.status {
				t.Fatalf("status %d, want %d (%+v)", got, tc.status, p)
			}
			switch got {
			case 413:
				if !strings.Contains(p.Detail, strconv.Itoa(tc.limit)) {
					t.Errorf("413 detail %q does not name the limit %d", p.Detail, tc.limit)
				}
			case 422:
				found := false
				for _, e := range p.Errors {
					found = found || e.Field == tc.field
				}
				if !found {
					t.Errorf("422 does not name field %q: %+v", tc.field, p)
				}
			}
		})
	}
	t.Logf("VmHWM after: %s", vmHWM())
	var l list[core.Job]
	if got := ts.do(t, ts.admin, "GET", "/api/v1/jobs?limit=5000", nil, &l); got != 422 {
		t.Errorf("limit=5000: %d, want 422", got)
	}
}

// TestJobPagesBoundedInBytes: a page of large jobs ends early, and the
// cursor reaches every job.
func TestJobPagesBoundedInBytes(t *testing.T) {
	ts := newTestServer(t, nil)
	word := strings.Repeat("w", 400)
	const jobs = 6 // ~1.6 MB each
	for i := range jobs {
		body := commandSpec(4000, word)
		if got, p := ts.send(t, "/api/v1/jobs", body, false); got != 201 {
			t.Fatalf("job %d: %d %+v", i, got, p)
		}
	}
	seen, cursor := 0, ""
	for pages := 1; ; pages++ {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/jobs?cursor="+cursor, nil)
		req.Header.Set("Authorization", "Bearer "+ts.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(raw) > MaxPageBytes+2<<20 {
			t.Errorf("page %d is %d bytes, over MaxPageBytes (%d) and one job", pages, len(raw), MaxPageBytes)
		}
		var l list[core.Job]
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		seen += len(l.Items)
		if l.NextCursor == "" {
			if pages < 2 {
				t.Errorf("%d jobs of 1.6 MB on one page", seen)
			}
			break
		}
		cursor = l.NextCursor
	}
	if seen != jobs {
		t.Errorf("saw %d jobs, want %d", seen, jobs)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	ts := newTestServer(t, nil, WithRateLimit(RateLimit{PerSecond: 0.01, Burst: 3}))
	var other userWithToken
	if got := ts.do(t, ts.admin, "POST", "/api/v1/users", `{"name":"ada","org":"acme"}`, &other); got != 201 {
		t.Fatalf("create user: %d", got)
	}
	// The admin has spent one request of three.
	for i := range 2 {
		if got := ts.do(t, ts.admin, "GET", "/api/v1/sites", nil, nil); got != 200 {
			t.Fatalf("request %d within the burst: %d", i+2, got)
		}
	}
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/sites", nil)
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p Problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || ra < 1 || !strings.HasSuffix(p.Type, "/rate-limited") || p.Status != 429 {
		t.Errorf("over the rate: %d, Retry-After %q, %+v; want 429 with a problem and Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
	// Another token has its own bucket.
	if got := ts.do(t, other.Token, "GET", "/api/v1/sites", nil, nil); got != 200 {
		t.Errorf("another token: %d, want 200", got)
	}
}

// closedWithin reads conn until it fails and reports whether the server
// closed it (EOF or reset) before the bound.
func closedWithin(t *testing.T, conn net.Conn, bound time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// TestServerTimeoutsCutSlowClients runs the API behind HTTPServer with
// short timeouts on a real listener: a slow body, slow headers and an idle
// keep-alive are cut, while a followed log outlives the write timeout.
func TestServerTimeoutsCutSlowClients(t *testing.T) {
	tm := Timeouts{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond, Write: 500 * time.Millisecond, Idle: 500 * time.Millisecond, MaxHeaderBytes: 8 << 10}
	ts := startTestServer(t, localSite(1), &tm)
	addr := strings.TrimPrefix(ts.url, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const bound = 20 * time.Second // far above the timeouts: no timing claim
	t.Run("slow body", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"command\":", ts.admin)
		if !closedWithin(t, c, bound) {
			t.Errorf("a body that never ends held the connection for %v", bound)
		}
	})
	t.Run("slow headers", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		if !closedWithin(t, c, bound) {
			t.Errorf("headers that never end held the connection for %v", bound)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d, close %v; want 200 kept alive", resp.StatusCode, resp.Close)
		}
		_ = c.SetReadDeadline(time.Now().Add(bound))
		_, err = br.ReadByte()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("an idle keep-alive connection was held for %v", bound)
		}
	})
	t.Run("huge headers", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("h", 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB header: %d, want 431", resp.StatusCode)
		}
	})
	t.Run("followed log outlives the write timeout", func(t *testing.T) {
		var j core.Job
		if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sh","-c","echo start; sleep 1.5; echo done"]}`, &j); got != 201 {
			t.Fatalf("submit: %d", got)
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/logs?follow=true", ts.url, j.ID), nil)
		req.Header.Set("Authorization", "Bearer "+ts.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !strings.Contains(string(out), "done") {
			t.Errorf("followed log: %q, %v; want it to run to the end", out, err)
		}
	})
}
