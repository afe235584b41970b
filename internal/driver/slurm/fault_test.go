package slurm

// Failure injection: a small proxy in front of the real slurmrestd answers
// 5xx, is slow, or loses a submit's answer after forwarding it. Only the
// network around Slurm is faked; Slurm itself is real.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

type faultProxy struct {
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu          sync.Mutex
	fail        int           // answer the next n requests 503 without forwarding
	slow        int           // delay the next n requests
	delay       time.Duration //  by this much
	loseSubmits int           // forward the next n submits, then answer 502
	failOnLose  int           // after losing a submit's answer, fail that many requests
	submits     int           // submits forwarded to Slurm
	status500   int           // 500s that came back from Slurm
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == 500 {
			p.mu.Lock()
			p.status500++
			p.mu.Unlock()
		}
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fail := p.fail > 0
	if fail {
		p.fail--
	}
	var delay time.Duration
	if p.slow > 0 {
		p.slow--
		delay = p.delay
	}
	submit := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/job/submit")
	lose := submit && p.loseSubmits > 0
	if lose {
		p.loseSubmits--
		p.fail += p.failOnLose
	}
	if submit && !fail {
		p.submits++
	}
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		http.Error(w, "injected", http.StatusServiceUnavailable)
		return
	}
	if lose {
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)                                        // Slurm takes the job...
		http.Error(w, "injected: answer lost", http.StatusBadGateway) // ...the answer is lost
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *faultProxy) set(f func(p *faultProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *faultProxy) get(f func(p *faultProxy) int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return f(p)
}

// TestFaults5xxSlowLost: 503s and slow answers are retried; a submit whose
// answer was lost is found by its tag, not submitted again.
func TestFaults5xxSlowLost(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	p := newFaultProxy(t, c.URL)
	var logs logBuffer
	prefix := uniquePrefix("fault")
	opts := c.options(prefix)
	opts.URL, opts.Logger, opts.Timeout = p.srv.URL, debugLogger(&logs), time.Second
	d := newTestDriver(t, opts)
	ctx := context.Background()

	p.set(func(p *faultProxy) { p.fail = 2 })
	if _, err := d.Version(ctx); err != nil {
		t.Fatalf("negotiation through two 503s: %v", err)
	}
	p.set(func(p *faultProxy) { p.slow, p.delay = 1, 3*time.Second })
	if _, err := d.Pools(ctx); err != nil {
		t.Fatalf("Pools through one answer slower than the timeout: %v", err)
	}

	p.set(func(p *faultProxy) { p.loseSubmits = 1 })
	h, err := d.Start(ctx, shJob(1, "exit 0", 1, 1))
	if err != nil {
		t.Fatalf("Start with a lost answer: %v", err)
	}
	if n := p.get(func(p *faultProxy) int { return p.submits }); n != 1 {
		t.Errorf("%d submits reached Slurm, want 1", n)
	}
	p.set(func(p *faultProxy) { p.fail = 1 })
	col := newCollector(d)
	col.waitEnds(t, []core.JobID{1}, 30*time.Second)
	if u := col.ends[1]; u.State != core.StateCompleted || u.Handle != h {
		t.Errorf("job: %+v, want completed with handle %s", u, h)
	}
	if n := tagCount(t, c, prefix)[tag{1, 0}]; n != 1 {
		t.Errorf("%d Slurm jobs carry the tag, want 1", n)
	}
	// A submit that keeps failing ends with a clear error, nothing queued.
	p.set(func(p *faultProxy) { p.fail = 100 })
	_, err = d.Start(ctx, shJob(2, "exit 0", 1, 1))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Start against a failing slurmrestd: %v, want the 503", err)
	}
	p.set(func(p *faultProxy) { p.fail = 0 })
	if strings.Contains(logs.String(), c.Token) {
		t.Error("the token appears in the logs")
	}
}

// TestTokenRefresh: an expired token (22.05 answers 500) is re-read from
// its file; a command's short-lived tokens are renewed before they expire.
func TestTokenRefresh(t *testing.T) {
	c := testCluster(t)
	if c.TokenCommand == "" {
		t.Skip("GF_TEST_SLURM_TOKEN_COMMAND not set")
	}
	t.Parallel()
	ctx := context.Background()
	var logs logBuffer

	// 1. A token file holding an expired token, replaced a moment later.
	expired, err := runTokenCommand(ctx, c.TokenCommand+" 1")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("SLURM_JWT="+string(expired)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// slurmctld refuses a token once exp < now, in whole seconds.
	time.Sleep(time.Until(jwtExpiry(string(expired)).Add(1100 * time.Millisecond)))
	p := newFaultProxy(t, c.URL)
	opts := c.options(uniquePrefix("tok"))
	opts.URL, opts.Token, opts.TokenFile, opts.Logger, opts.Backoff = p.srv.URL, "", file, debugLogger(&logs), 300*time.Millisecond
	d := newTestDriver(t, opts)
	if _, err := d.Version(ctx); err != nil { // /openapi/v3 does not check tokens
		t.Fatal(err)
	}
	go func() {
		// Renew the file once slurmrestd refused the expired token.
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if p.get(func(p *faultProxy) int { return p.status500 }) > 0 {
				break
			}
		}
		os.WriteFile(file+".new", []byte(c.Token+"\n"), 0o600)
		os.Rename(file+".new", file)
	}()
	if _, err := d.Pools(ctx); err != nil {
		t.Fatalf("Pools after the token file was renewed: %v", err)
	}
	if n := p.get(func(p *faultProxy) int { return p.status500 }); n == 0 {
		t.Error("the expired token was never refused: the test tests nothing")
	}

	// 2. A command issuing 3 s tokens: renewed before expiry, never refused.
	count := filepath.Join(t.TempDir(), "runs")
	p2 := newFaultProxy(t, c.URL)
	opts.URL, opts.TokenFile = p2.srv.URL, ""
	opts.TokenCommand = fmt.Sprintf("echo run >> %s; %s 3", count, c.TokenCommand)
	d2 := newTestDriver(t, opts)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if _, err := d2.Pools(ctx); err != nil {
			t.Fatalf("Pools with short-lived tokens: %v", err)
		}
	}
	b, _ := os.ReadFile(count)
	if runs := strings.Count(string(b), "run"); runs < 2 {
		t.Errorf("token command ran %d times in 5 s of 3 s tokens, want at least 2", runs)
	}
	if n := p2.get(func(p *faultProxy) int { return p.status500 }); n != 0 {
		t.Errorf("%d requests were refused: the token was not renewed in time", n)
	}
	for _, tok := range []string{string(expired), c.Token} {
		if strings.Contains(logs.String(), tok) {
			t.Error("a token appears in the logs")
		}
	}
}

// TestGiveUpDisowns: a submit whose answer is lost while slurmrestd keeps
// failing makes Start fail; the job Slurm got anyway is cancelled by the
// next Poll, so it does not run behind the control plane's back.
func TestGiveUpDisowns(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	p := newFaultProxy(t, c.URL)
	prefix := uniquePrefix("orphan")
	opts := c.options(prefix)
	opts.URL, opts.Retries = p.srv.URL, 2
	d := newTestDriver(t, opts)
	ctx := context.Background()
	if _, err := d.Version(ctx); err != nil {
		t.Fatal(err)
	}
	p.set(func(p *faultProxy) { p.loseSubmits, p.failOnLose = 1, 100 })
	if _, err := d.Start(ctx, shJob(1, "sleep 120", 1, 1)); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("Start = %v, want a failure saying the outcome is unknown", err)
	}
	p.set(func(p *faultProxy) { p.fail = 0 })
	// Reaping needs a listing: within FullSync (5 s here) of polling.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, j := range slurmJobs(t, c) {
			if tg, ok := parseTag(prefix, j.Comment); ok && tg.ID == 1 {
				states = append(states, j.State)
			}
		}
		if len(states) != 1 {
			t.Fatalf("Slurm has %d jobs with the tag, want the 1 that got through", len(states))
		}
		if states[0] == "CANCELLED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the disowned job is %s, want CANCELLED", states[0])
		}
		time.Sleep(500 * time.Millisecond)
	}
}
