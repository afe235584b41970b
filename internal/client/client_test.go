package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

func TestProblemError(t *testing.T) {
	tests := map[string]struct {
		p    Problem
		want string
	}{
		"detail names the field": {
			p:    Problem{Status: 422, Detail: "accelerators: must not be negative, got -1", Errors: []FieldError{{"accelerators", "must not be negative, got -1"}}},
			want: "accelerators: must not be negative, got -1",
		},
		"detail lists every field": {
			p: Problem{Status: 422, Detail: "accelerators: must not be negative\nwalltime: want a duration",
				Errors: []FieldError{{"accelerators", "must not be negative"}, {"walltime", "want a duration"}}},
			want: "accelerators: must not be negative\nwalltime: want a duration",
		},
		"field errors beyond the detail": {
			p:    Problem{Status: 422, Detail: "2 invalid fields", Errors: []FieldError{{"nodes", "too many"}, {"", "and something else"}}},
			want: "2 invalid fields\n  nodes: too many\n  and something else",
		},
		"title only": {
			p:    Problem{Status: 503, Title: "Service Unavailable"},
			want: "Service Unavailable (HTTP 503)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func response(status int, contentType, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(strings.NewReader(body))}
}

func TestProblemFrom(t *testing.T) {
	tests := map[string]struct {
		resp *http.Response
		want Problem
	}{
		"problem document": {
			resp: response(422, "application/problem+json", `{"type":"https://gigafactory.eu/problems/invalid-field","title":"Invalid field","status":422,
				"detail":"project: unknown project \"x\"","instance":"/api/v1/jobs","errors":[{"field":"project","detail":"unknown project \"x\""}]}`),
			want: Problem{Type: "https://gigafactory.eu/problems/invalid-field", Title: "Invalid field", Status: 422,
				Detail: `project: unknown project "x"`, Instance: "/api/v1/jobs", Errors: []FieldError{{"project", `unknown project "x"`}}},
		},
		"a proxy's HTML page": {
			resp: response(502, "text/html", "<html>bad gateway</html>"),
			want: Problem{Title: "Bad Gateway", Status: 502, Detail: "Bad Gateway (HTTP 502): <html>bad gateway</html>"},
		},
		"empty body": {
			resp: response(404, "text/plain", ""),
			want: Problem{Title: "Not Found", Status: 404},
		},
		"broken JSON": {
			resp: response(500, "application/problem+json", `{"detail": `),
			want: Problem{Title: "Internal Server Error", Status: 500},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, *problemFrom(tc.resp)); diff != "" {
				t.Errorf("problemFrom (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExplanationDecode(t *testing.T) {
	for name, doc := range map[string]string{
		"top-level status": `{"job": {"id": 7, "state": "pending"}, "status": {"id": 7, "state": "pending", "reason": "busy", "priority": 2.5}, "factors": {"age": 1}}`,
		"nested status":    `{"job": {"id": 7, "state": "pending"}, "explanation": {"id": 7, "known": true, "status": {"id": 7, "state": "pending", "reason": "busy", "priority": 2.5}}, "factors": {"age": 1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var e Explanation
			if err := json.Unmarshal([]byte(doc), &e); err != nil {
				t.Fatal(err)
			}
			if e.Job.ID != 7 || e.Status.ID != 7 || e.Status.Reason != "busy" || e.Status.Priority != 2.5 {
				t.Errorf("decoded %+v", e)
			}
			if _, ok := e.Extra["factors"]; !ok {
				t.Errorf("Extra = %v, want it to keep factors", e.Extra)
			}
			out, err := json.Marshal(e)
			var want bytes.Buffer
			json.Compact(&want, []byte(doc))
			if err != nil || string(out) != want.String() {
				t.Errorf("MarshalJSON = %s, %v; want the document as received", out, err)
			}
		})
	}
}

func TestNewURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":              "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/\n":    "http://127.0.0.1:8080",
		"https://gf.eu/api/v1/":       "https://gf.eu",
		"https://gf.eu/prefix":        "https://gf.eu/prefix",
		"https://gf.eu/prefix/api/v1": "https://gf.eu/prefix",
	} {
		c, err := New(in, "t")
		if err != nil {
			t.Errorf("New(%q): %v", in, err)
			continue
		}
		if got := c.BaseURL(); got != want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "http://"} {
		if _, err := New(bad, "t"); err == nil {
			t.Errorf("New(%q) succeeded, want an error", bad)
		}
	}
}

func TestJobFilterQuery(t *testing.T) {
	f := JobFilter{States: []core.State{core.StatePending, core.StateRunning}, Project: "nlp", Limit: 50}
	if got, want := f.query().Encode(), "limit=50&project=nlp&state=pending%2Crunning"; got != want {
		t.Errorf("query = %s, want %s", got, want)
	}
	if got := (JobFilter{}).query().Encode(); got != "" {
		t.Errorf("empty filter query = %q", got)
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRetriesIdempotentRequests(t *testing.T) {
	c, err := New(closedAddr(t), "t", WithRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = 40 * time.Millisecond
	ctx := context.Background()

	start := time.Now()
	_, err = c.GetJob(ctx, 1) // retried: 40 ms, then 160 ms
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("GetJob on a closed port: %v, want a dial error", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("GetJob gave up after %v, want two retries (>= 200 ms)", d)
	}

	c.backoff = time.Second // a retry would take a second
	start = time.Now()
	_, err = c.Submit(ctx, core.JobSpec{Command: []string{"true"}}, "") // no key: never retried
	if err == nil {
		t.Fatal("Submit on a closed port succeeded")
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Submit without an idempotency key took %v: it must not be retried", d)
	}

	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	c.backoff = time.Hour
	start = time.Now()
	if _, err := c.Submit(cctx, core.JobSpec{Command: []string{"true"}}, "key-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("keyed Submit with a 20 ms context: %v, want the deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("keyed Submit waited %v: the context must end the retries", d)
	}
}

// A listing filtered by site reaches the route (a "?" in the path would be
// escaped to %3F and miss it).
func TestReservationsBySite(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path + "|" + r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[{"id":"r1","site":"gf-fr"}]}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Reservations(context.Background(), "gf-fr")
	if err != nil || len(rs) != 1 || got != "/api/v1/reservations|site=gf-fr" {
		t.Fatalf("%v %v, the server saw %q", rs, err, got)
	}
}
