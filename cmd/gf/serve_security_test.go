package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/store"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// inProcessServer runs gf serve in this process on dir until stop.
type inProcessServer struct {
	url  string
	stop func()
}

func serveInProcess(t *testing.T, dir string) *inProcessServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan int, 1)
	addr := filepath.Join(dir, addrFile)
	_ = os.Remove(addr)
	go func() {
		done <- run(ctx, []string{"--data", dir, "serve", "--listen", "127.0.0.1:0", "--virtual-accelerators", "1"}, strings.NewReader(""), out, out)
	}()
	s := &inProcessServer{stop: func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("gf serve did not stop")
		}
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(addr); err == nil && strings.HasPrefix(string(b), "http://") {
			s.url = strings.TrimSpace(string(b))
			if resp, err := http.Get(s.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		select {
		case code := <-done:
			t.Fatalf("gf serve exited with %d:\n%s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("gf serve not ready:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			s.stop()
		}
	})
	return s
}

// gf runs a client command in process against dir and returns its exit
// code and output.
func gf(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), append([]string{"--data", dir}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

// status sends GET path with token and returns the status.
func status(t *testing.T, url, token, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func readToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestServeTightensDataDir starts gf serve on a world-readable data
// directory holding a world-readable database and checks that it is
// private afterwards, and that what the server writes is too.
func TestServeTightensDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	for name, text := range map[string]string{"gf.db": "", adminTokenFile: "gf_planted\n", addrFile: "http://127.0.0.1:1\n"} {
		p := filepath.Join(dir, name)
		if text != "" {
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := serveInProcess(t, dir)
	want := map[string]os.FileMode{".": 0o700, "gf.db": 0o600, adminTokenFile: 0o600, addrFile: 0o600, "gf.db-wal": 0o600, "gf.db-shm": 0o600}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if os.IsNotExist(err) && strings.HasPrefix(name, "gf.db-") {
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %o, want %o", name, got, mode)
		}
	}
	// Whatever the server creates under it is private as well.
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %o is open to others", p, fi.Mode().Perm())
		}
		return nil
	})
	if got := status(t, srv.url, "gf_planted", "/api/v1/jobs"); got != 401 {
		t.Errorf("a planted admin.token authenticates: %d", got)
	}
}

// TestTokensCLI drives gf tokens against a real server: list, create,
// revoke (refused on the very next request), rotate-admin, and a new
// admin.token written at start revoking the old one.
func TestTokensCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv := serveInProcess(t, dir)
	admin := readToken(t, dir)

	code, out := gf(t, dir, "tokens")
	if code != 0 || !regexp.MustCompile(`(?m)^1\s+admin\s+admin\.token\s.*\syes$`).MatchString(out) {
		t.Fatalf("gf tokens: %d\n%s", code, out)
	}
	code, out = gf(t, dir, "tokens", "create", "--label", "laptop")
	m := regexp.MustCompile(`Created token (\d+) for admin\b[\s\S]*\n  (gf_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("gf tokens create: %d\n%s", code, out)
	}
	laptop := m[2]
	if got := status(t, srv.url, laptop, "/api/v1/users/me"); got != 200 {
		t.Fatalf("new token: %d", got)
	}
	if code, out := gf(t, dir, "tokens", "revoke", m[1]); code != 0 || !strings.Contains(out, "Revoked token "+m[1]) {
		t.Fatalf("gf tokens revoke: %d\n%s", code, out)
	}
	if got := status(t, srv.url, laptop, "/api/v1/users/me"); got != 401 {
		t.Errorf("revoked token on the next request: %d, want 401", got)
	}
	if code, out := gf(t, dir, "tokens", "revoke", "abc"); code != 2 || !strings.Contains(out, "invalid token id") {
		t.Errorf("gf tokens revoke abc: %d\n%s", code, out)
	}

	code, out = gf(t, dir, "tokens", "rotate-admin")
	rotated := readToken(t, dir)
	if code != 0 || rotated == admin || !strings.Contains(out, "token 1 revoked") {
		t.Fatalf("gf tokens rotate-admin: %d\n%s", code, out)
	}
	if got := status(t, srv.url, admin, "/api/v1/jobs"); got != 401 {
		t.Errorf("the old admin.token after rotation: %d, want 401", got)
	}
	if got := status(t, srv.url, rotated, "/api/v1/jobs"); got != 200 {
		t.Errorf("the new admin.token: %d, want 200", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, adminTokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token after rotation: %v, %v", fi.Mode(), err)
	}

	// Deleting admin.token and restarting writes a new one and revokes
	// the one it replaces.
	srv.stop()
	if err := os.Remove(filepath.Join(dir, adminTokenFile)); err != nil {
		t.Fatal(err)
	}
	srv = serveInProcess(t, dir)
	fresh := readToken(t, dir)
	if got := status(t, srv.url, rotated, "/api/v1/jobs"); got != 401 {
		t.Errorf("the replaced admin.token after restart: %d, want 401", got)
	}
	if got := status(t, srv.url, fresh, "/api/v1/jobs"); got != 200 {
		t.Errorf("the fresh admin.token: %d, want 200", got)
	}
}
