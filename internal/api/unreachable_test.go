package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gigafactory/gigafactory/internal/store"
)

// A store that cannot be reached is 503 with Retry-After (nothing was done;
// the same request may succeed in a moment), not 500; what the store
// refuses keeps its own status. The errors are real ones: a closed pool, a
// PostgreSQL connection refused and one cut at once by its peer, and the
// message PostgreSQL sends when it shuts down.
func TestStoreUnreachableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	closed, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, closed.Close())
	_, _, closedErr := closed.Authenticate(ctx, HashToken("gf_x"))

	// A port nobody listens on: a listener opened and closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := l.Addr().String()
	l.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, refusedErr := pgconn.Connect(cctx, "postgres://gf@"+refusedAddr+"/gf?sslmode=disable")

	// A peer that accepts and closes at once, as a PostgreSQL going down.
	cut, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	go func() {
		for {
			c, err := cut.Accept()
			if err != nil {
				return
			}
			_, _ = io.CopyN(io.Discard, c, 8)
			c.Close()
		}
	}()
	_, cutErr := pgconn.Connect(cctx, "postgres://gf@"+cut.Addr().String()+"/gf?sslmode=disable")

	cases := map[string]struct {
		err    error
		status int
	}{
		"closed pool":           {closedErr, http.StatusServiceUnavailable},
		"connection refused":    {fmt.Errorf("store: job 3: %w", refusedErr), http.StatusServiceUnavailable},
		"connection cut":        {cutErr, http.StatusServiceUnavailable},
		"admin shutdown 57P01":  {&pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, http.StatusServiceUnavailable},
		"starting up 57P03":     {&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"}, http.StatusServiceUnavailable},
		"unique violation":      {&pgconn.PgError{Code: "23505"}, http.StatusInternalServerError},
		"disk full stays 507":   {&pgconn.PgError{Code: "53100"}, http.StatusInsufficientStorage},
		"not found stays 404":   {fmt.Errorf("store: job 3: %w", store.ErrNotFound), http.StatusNotFound},
		"anything else is 500":  {errors.New("store: something odd"), http.StatusInternalServerError},
		"cancelled request 503": {context.Canceled, http.StatusServiceUnavailable},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("the case produced no error")
			}
			p := problemFor(c.err)
			if p.Status != c.status {
				t.Errorf("problemFor(%v) = %d %s, want %d", c.err, p.Status, p.Type, c.status)
			}
			if unreachable := c.status == http.StatusServiceUnavailable && name != "cancelled request 503"; unreachable != (p.retryAfter > 0) {
				t.Errorf("retry after %d s; want one only for an unreachable store", p.retryAfter)
			}
		})
	}
}

// Through the real handler: with the store's pool closed under a running
// server, a submission is answered 503 with Retry-After and a problem
// that names no internal layer.
func TestClosedStoreAnswers503(t *testing.T) {
	ts := newTestServer(t, nil)
	must(t, ts.st.Close())
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/jobs", strings.NewReader(`{"command":["true"]}`))
	req.Header.Set("Authorization", "Bearer "+ts.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
	if !strings.Contains(string(body), "problems/unavailable") || strings.Contains(strings.ToLower(string(body)), "sql") {
		t.Errorf("problem %s: want type unavailable and no internal layer named", body)
	}
}
