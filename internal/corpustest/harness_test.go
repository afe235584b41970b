package corpustest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/testutil"
)

// The gf binary, built once per test run.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// TestMain removes the built binary at the end.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// repoRoot is the repository's top directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// gfBinary builds ./cmd/gf into a directory every user may run it from.
func gfBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gf-corpus-bin-"); buildErr != nil {
			return
		}
		if buildErr = os.Chmod(binDir, 0o755); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gf")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gf")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// worldDir makes a directory every user can traverse, under /var/tmp: jobs
// of a root server get a private /tmp, and Slurm's jobs run as another user.
func worldDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/var/tmp", "gf-corpus-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// slurmCluster is where the test Slurm of scripts/slurm/start.sh listens.
type slurmCluster struct{ URL, User, TokenFile, Dir string }

// testSlurm reads the test Slurm from the environment that
// scripts/test.d/20-slurm.sh exports. Without it the Slurm half skips,
// unless CI is set: then the test fails.
func testSlurm(t testing.TB) (slurmCluster, bool) {
	c := slurmCluster{URL: os.Getenv("GF_TEST_SLURM_URL"), User: os.Getenv("GF_TEST_SLURM_USER"),
		TokenFile: os.Getenv("GF_TEST_SLURM_TOKEN_FILE"), Dir: os.Getenv("GF_TEST_SLURM_DIR")}
	if c.URL == "" || c.TokenFile == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but GF_TEST_SLURM_URL or GF_TEST_SLURM_TOKEN_FILE is not: scripts/test.d/20-slurm.sh did not start Slurm")
		}
		return c, false
	}
	if c.Dir == "" {
		c.Dir = "/tmp/gf-slurm"
	}
	return c, true
}

// server is a real `gf serve` process.
type server struct {
	t     testing.TB
	cmd   *exec.Cmd
	dir   string // world-traversable: data/, gf.yaml, bin/ and the submit directories
	data  string
	url   string
	admin string
	bin   string // the gf binary
	tools string // the directory of the `module` and `ml` commands jobs find on PATH
	log   *testutil.SyncBuffer
	done  chan struct{}
}

// startServer writes config (with {DIR} replaced by the server's directory),
// starts gf serve on a fresh data directory and waits until it is ready. A
// server that exits at once is an error carrying its log, so the caller can
// tell a config key the server does not know yet.
func startServer(t testing.TB, dir, config string) (*server, error) {
	t.Helper()
	s := &server{t: t, dir: dir, data: filepath.Join(dir, "data"), bin: gfBinary(t), log: &testutil.SyncBuffer{}}
	s.tools = filepath.Join(dir, "bin")
	writeTools(t, s.tools)
	cfg := filepath.Join(dir, "gf.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, "{DIR}", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--data", s.data, "serve", "--listen", "127.0.0.1:0", "--config", cfg)
	cmd.Dir = dir
	// PATH reaches local jobs: they find `module` there as on a site's login shell.
	cmd.Env = []string{"PATH=" + s.tools + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "GF_COUNTRY=DE"}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			_ = os.RemoveAll(s.data)
			return nil, fmt.Errorf("gf serve exited before it was ready:\n%s", s.log.String())
		default:
		}
		if b, err := os.ReadFile(filepath.Join(s.data, "gf.addr")); err == nil && len(b) > 0 {
			s.url = strings.TrimSpace(string(b))
			if resp, err := http.Get(s.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gf serve did not become ready:\n%s", s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.admin = strings.TrimSpace(string(tok))
	return s, nil
}

// writeTools writes `module` and `ml`, which do nothing but say what they
// were asked, as a site's Lmod would load a module.
func writeTools(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"module", "ml"} {
		body := "#!/bin/sh\necho \"" + name + ": $*\" >&2\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL after 15 s.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.t.Failed() {
		s.t.Logf("gf serve log (last 8000 bytes):\n%s", tail(s.log.String(), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// api sends one request as the administrator and fails the test unless the
// answer's status is want.
func (s *server) api(want int, method, path string, body any) []byte {
	s.t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(j))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: want %d, got %d %s", method, path, want, resp.StatusCode, b.String())
	}
	return b.Bytes()
}

// addUser creates a user of org and returns its token.
func (s *server) addUser(name, org string) string {
	s.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(s.api(201, "POST", "/api/v1/users", map[string]any{"name": name, "org": org, "role": "user"}), &out); err != nil {
		s.t.Fatal(err)
	}
	return out.Token
}

// gf runs the gf CLI as the holder of token in dir and returns its stdout;
// stderr comes back in the error.
func (s *server) gf(token, dir string, args ...string) ([]byte, error) {
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + s.dir, "GF_URL=" + s.url, "GF_TOKEN=" + token}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("gf %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
