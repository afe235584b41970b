package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server is a real `gf serve` process.
type crashServer struct {
	cmd   *exec.Cmd
	url   string
	token string
	log   *bytes.Buffer
}

// startServer runs gf serve on dir and waits until it is ready.
func startCrashServer(t *testing.T, dir string, extra ...string) *crashServer {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "gf.addr"))
	// The storms here test durability, not the front door: no rate limit.
	args := append([]string{"--data", dir, "serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"}, extra...)
	cmd := exec.Command(gfBinary(t), args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &crashServer{cmd: cmd, log: &buf}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "gf.addr")); err == nil && len(b) > 0 {
			s.url = strings.TrimSpace(string(b))
			if resp, err := http.Get(s.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gf serve did not become ready:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

func (s *crashServer) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

func (s *crashServer) request(method, path, body string, hdr ...string) (int, []byte, error) {
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestCrashDuringSubmissionBurst kills gf serve with SIGKILL during a burst
// of 1,000 submissions: after a restart every submission that got a 2xx
// exists exactly once, and retrying the rest with the same idempotency keys
// never creates a duplicate.
func TestCrashDuringSubmissionBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real gf processes")
	}
	dir := t.TempDir()
	srv := startCrashServer(t, dir, "--virtual-accelerators", "8")
	// The only site is drained (the store keeps that across the restart),
	// so the jobs stay pending and the test measures the store, not
	// process start-up. A job larger than the site would be refused at
	// submission as never runnable.
	if code, body, err := srv.request("POST", "/api/v1/sites/local/drain", ""); err != nil || code != 200 {
		t.Fatalf("drain local: %d %s %v", code, body, err)
	}
	const total, workers = 1000, 16
	type ack struct {
		key string
		id  int64
	}
	var (
		mu    sync.Mutex
		acked []ack
		sent  atomic.Int64
		wg    sync.WaitGroup
	)
	next := make(chan int, total)
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	killed := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := fmt.Sprintf("burst-%d", i)
				code, body, err := srv.request("POST", "/api/v1/jobs", `{"command":["true"],"accelerators":1}`, "Idempotency-Key", key)
				if n := sent.Add(1); n == 300 {
					close(killed)
				}
				if err != nil || code/100 != 2 {
					continue
				}
				var j struct {
					ID int64 `json:"id"`
				}
				if json.Unmarshal(body, &j) != nil || j.ID == 0 {
					t.Errorf("2xx without a job id: %s", body)
					continue
				}
				mu.Lock()
				acked = append(acked, ack{key, j.ID})
				mu.Unlock()
			}
		}()
	}
	<-killed
	srv.kill()
	wg.Wait()
	if len(acked) < 200 || len(acked) >= total {
		t.Fatalf("%d acknowledged before the kill; the test wants a kill mid-burst", len(acked))
	}
	t.Logf("%d of %d submissions acknowledged before SIGKILL", len(acked), total)

	srv = startCrashServer(t, dir, "--virtual-accelerators", "8")
	for _, a := range acked {
		code, body, err := srv.request("GET", fmt.Sprintf("/api/v1/jobs/%d", a.id), "")
		if err != nil || code != 200 {
			t.Fatalf("acknowledged job %d (%s) lost after restart: %d %s %v", a.id, a.key, code, body, err)
		}
		var j struct {
			IdempotencyKey string `json:"idempotency_key"`
			State          string `json:"state"`
		}
		_ = json.Unmarshal(body, &j)
		if j.IdempotencyKey != a.key || j.State != "pending" {
			t.Fatalf("job %d: key %q state %q, want %q pending", a.id, j.IdempotencyKey, j.State, a.key)
		}
	}
	// Retry everything: acknowledged keys answer 200 with the same job,
	// the others are created now. Exactly one job per key in the end.
	ids := map[int64]string{}
	for i := 0; i < total; i++ {
		key := fmt.Sprintf("burst-%d", i)
		code, body, err := srv.request("POST", "/api/v1/jobs", `{"command":["true"],"accelerators":1}`, "Idempotency-Key", key)
		if err != nil || code/100 != 2 {
			t.Fatalf("retry %s: %d %s %v", key, code, body, err)
		}
		var j struct {
			ID int64 `json:"id"`
		}
		_ = json.Unmarshal(body, &j)
		if prev, dup := ids[j.ID]; dup {
			t.Fatalf("keys %s and %s share job %d", prev, key, j.ID)
		}
		ids[j.ID] = key
	}
	for _, a := range acked {
		if ids[a.id] != a.key {
			t.Fatalf("retry of %s gave another job than the acknowledged %d", a.key, a.id)
		}
	}
	// And the store holds exactly total jobs.
	count := 0
	cursor := ""
	for {
		code, body, err := srv.request("GET", "/api/v1/jobs?limit=1000&cursor="+cursor, "")
		if err != nil || code != 200 {
			t.Fatalf("list: %d %v", code, err)
		}
		var l struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		_ = json.Unmarshal(body, &l)
		count += len(l.Items)
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if count != total {
		t.Errorf("store holds %d jobs, want exactly %d", count, total)
	}
}

// TestRestartReadoptsRunningJobs kills gf serve while local jobs run: after
// the restart they are re-adopted and end with their real exit codes, each
// having run exactly once.
func TestRestartReadoptsRunningJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real gf processes")
	}
	dir := t.TempDir()
	srv := startCrashServer(t, dir, "--virtual-accelerators", "8")
	type jobRef struct {
		ID int64 `json:"id"`
	}
	submit := func(cmd string) int64 {
		body, _ := json.Marshal(map[string]any{"command": []string{"sh", "-c", cmd}, "accelerators": 1})
		code, out, err := srv.request("POST", "/api/v1/jobs", string(body))
		if err != nil || code != 201 {
			t.Fatalf("submit: %d %s %v", code, out, err)
		}
		var j jobRef
		_ = json.Unmarshal(out, &j)
		return j.ID
	}
	// Each job marks its runs in its own directory (its working directory):
	// as root the server runs jobs as an unprivileged account that can
	// write nowhere else.
	ok := submit("echo run >> mark; sleep 2; echo done")
	bad := submit("echo run >> mark; sleep 2; exit 7")
	state := func(s *crashServer, id int64) (string, *int) {
		_, out, _ := s.request("GET", fmt.Sprintf("/api/v1/jobs/%d", id), "")
		var j struct {
			State    string `json:"state"`
			ExitCode *int   `json:"exit_code"`
		}
		_ = json.Unmarshal(out, &j)
		return j.State, j.ExitCode
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		a, _ := state(srv, ok)
		b, _ := state(srv, bad)
		if a == "running" && b == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not start: %s %s", a, b)
		}
	}
	srv.kill()
	srv = startCrashServer(t, dir, "--virtual-accelerators", "8")
	want := map[int64]struct {
		state string
		code  int
	}{ok: {"completed", 0}, bad: {"failed", 7}}
	for id, w := range want {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st, code := state(srv, id)
			if st == w.state && code != nil && *code == w.code {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d: %s exit %v, want %s exit %d\n%s", id, st, code, w.state, w.code, srv.log)
			}
		}
	}
	for _, id := range []int64{ok, bad} {
		b, _ := os.ReadFile(filepath.Join(dir, "sites", "local", "jobs", fmt.Sprint(id), "mark"))
		if got := strings.Count(string(b), "run"); got != 1 {
			t.Errorf("job %d ran %d times, want exactly once", id, got)
		}
	}
	code, out, _ := srv.request("GET", fmt.Sprintf("/api/v1/jobs/%d/logs", ok), "")
	if code != 200 || string(out) != "done\n" {
		t.Errorf("logs of the re-adopted job: %d %q", code, out)
	}
}
