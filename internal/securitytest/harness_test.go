package securitytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/gigafactory/gigafactory/internal/testutil"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// gfBinary builds ./cmd/gf into a directory every user may read and run,
// so that a server started as an unprivileged user can run it too.
func gfBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("security tests run real gf processes: skipped with -short")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "gf-sec-bin-")
		if buildErr != nil {
			return
		}
		if buildErr = os.Chmod(binDir, 0o755); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gf")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gf")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a real `gf serve` process.
type server struct {
	t     testing.TB
	cmd   *exec.Cmd
	dir   string // a world-traversable directory holding data/ and anything else the test needs
	data  string // the server's data directory
	url   string
	admin string // the administrator's token
	log   *syncBuffer
	done  chan struct{}
	bin   string
	args  []string
	uid   int
}

// syncBuffer collects a process's or a goroutine's output for the test.
type syncBuffer = testutil.SyncBuffer

// serverOptions shape a test server.
type serverOptions struct {
	config string // YAML written to DIR/gf.yaml and passed with --config
	args   []string
	uid    int // run the server as this uid (and gid) when > 0; the test must run as root
	// dirs are made under the test's directory, mode 0777, before the
	// server starts; "{DIR}" in config stands for that directory.
	dirs []string
}

// worldDir makes a temporary directory every user can traverse (t.TempDir
// is 0700, which an unprivileged server or job could not enter). It lies
// under /var/tmp, not /tmp: jobs of a root server get a private /tmp, so
// the local driver refuses allowed roots under /tmp.
func worldDir(t testing.TB) string {
	t.Helper()
	base := ""
	if fi, err := os.Stat("/var/tmp"); err == nil && fi.IsDir() {
		base = "/var/tmp"
	}
	d, err := os.MkdirTemp(base, "gf-sec-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// startServer runs gf serve on a fresh data directory and waits for /readyz.
func startServer(t testing.TB, o serverOptions) *server {
	t.Helper()
	bin := gfBinary(t)
	s := &server{t: t, dir: worldDir(t), log: &syncBuffer{}}
	s.data = filepath.Join(s.dir, "data")
	args := []string{"--data", s.data, "serve", "--listen", "127.0.0.1:0"}
	for _, d := range o.dirs {
		p := filepath.Join(s.dir, d)
		if err := os.MkdirAll(p, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if o.config != "" {
		cfg := filepath.Join(s.dir, "gf.yaml")
		if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(o.config, "{DIR}", s.dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	args = append(args, o.args...)
	if o.uid > 0 {
		if os.Getuid() != 0 {
			t.Fatal("starting the server as another user needs root")
		}
		if err := os.MkdirAll(s.data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s.data, o.uid, o.uid); err != nil {
			t.Fatal(err)
		}
	}
	s.bin, s.args, s.uid = bin, args, o.uid
	s.launch()
	return s
}

// launch starts the process and waits until it is ready.
func (s *server) launch() {
	t := s.t
	t.Helper()
	_ = os.Remove(filepath.Join(s.data, "gf.addr"))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + s.dir, "GF_COUNTRY=DE"}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if s.uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.uid)}}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	done := make(chan struct{})
	s.done = done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("gf serve exited before it was ready:\n%s", s.log.String())
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
}

// restart starts the server again on the same data directory, after stop.
func (s *server) restart() {
	s.stop()
	s.launch()
}

// stop ends the server: SIGTERM, then SIGKILL after 15 s.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
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
		s.t.Logf("gf serve log:\n%s", s.log.String())
	}
}

// peakRSS is the server's peak resident set (VmHWM) in bytes.
func (s *server) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	s.t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// answer is one HTTP response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string {
	b := a.body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%d %s", a.status, b)
}

// decode unmarshals the body into v, failing the test on error.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
}

// do sends one request with token (none when empty) and reads the answer.
func (s *server) do(token, method, path string, body any) answer {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// mustDo is do that fails the test unless the status is want.
func (s *server) mustDo(want int, token, method, path string, body any) answer {
	s.t.Helper()
	a := s.do(token, method, path, body)
	if a.status != want {
		s.t.Fatalf("%s %s: want %d, got %s", method, path, want, a)
	}
	return a
}

// tenants are the organisations, projects and users every test starts with:
// acme and beta, one project each, a user in each, and an organisation
// administrator of acme.
type tenants struct {
	alice string // user of acme, project rocket
	bob   string // user of beta, project probe
	carol string // org-admin of acme
}

// addTenants creates the two organisations and their members.
func (s *server) addTenants() tenants {
	s.t.Helper()
	for _, o := range []map[string]any{
		{"name": "acme", "kind": "startup", "country": "DE"},
		{"name": "beta", "kind": "research", "country": "FR"},
	} {
		s.mustDo(201, s.admin, "POST", "/api/v1/orgs", o)
	}
	s.mustDo(201, s.admin, "POST", "/api/v1/projects", map[string]any{"name": "rocket", "org": "acme", "description": "acme's secret rocket", "budget_accelerator_hours": 1000})
	s.mustDo(201, s.admin, "POST", "/api/v1/projects", map[string]any{"name": "probe", "org": "beta", "description": "beta's probe"})
	user := func(name, org, role string) string {
		var out struct {
			Token string `json:"token"`
		}
		s.mustDo(201, s.admin, "POST", "/api/v1/users", map[string]any{"name": name, "org": org, "role": role}).decode(s.t, &out)
		return out.Token
	}
	return tenants{alice: user("alice", "acme", "user"), bob: user("bob", "beta", "user"), carol: user("carol", "acme", "org-admin")}
}

// job is the part of a job the tests read.
type job struct {
	ID     int64  `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Site   string `json:"site"`
	User   string `json:"user"`
	Spec   struct {
		Walltime any `json:"walltime"`
	} `json:"spec"`
	StartTime *time.Time `json:"start_time"`
	EndTime   *time.Time `json:"end_time"`
}

func (j job) terminal() bool {
	switch j.State {
	case "completed", "failed", "cancelled", "timeout":
		return true
	}
	return false
}

// submit posts a job spec with token and returns the stored job.
func (s *server) submit(token string, spec map[string]any) job {
	s.t.Helper()
	var j job
	s.mustDo(201, token, "POST", "/api/v1/jobs", spec).decode(s.t, &j)
	return j
}

// wait polls a job until cond holds or 60 s pass.
func (s *server) wait(token string, id int64, cond func(job) bool) job {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j job
		s.mustDo(200, token, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil).decode(s.t, &j)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d: condition not met in 60 s; last seen %+v", id, j)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitEnd waits for a job to end.
func (s *server) waitEnd(token string, id int64) job {
	s.t.Helper()
	return s.wait(token, id, job.terminal)
}

// logs reads a job's stream.
func (s *server) logs(token string, id int64, stream string) answer {
	s.t.Helper()
	return s.do(token, "GET", fmt.Sprintf("/api/v1/jobs/%d/logs?stream=%s", id, stream), nil)
}

// secrets reads what must never leak or change: the admin token and the
// database's first bytes.
type secrets struct {
	token string
	db    []byte
}

func (s *server) secrets() secrets {
	s.t.Helper()
	tok, err := os.ReadFile(filepath.Join(s.data, "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(s.data, "gf.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	if len(db) > 100 {
		db = db[:100]
	}
	return secrets{token: strings.TrimSpace(string(tok)), db: db}
}

// intact fails the test if a secret changed or the server stopped answering.
func (s *server) intact(before secrets) {
	s.t.Helper()
	after := s.secrets()
	if after.token != before.token {
		s.t.Fatalf("admin.token changed: was %d bytes, now %d", len(before.token), len(after.token))
	}
	if !bytes.Equal(after.db, before.db) {
		s.t.Fatalf("gf.db header changed")
	}
	s.mustDo(200, s.admin, "GET", "/api/v1/users/me", nil)
}

// localSite is a federation config with one local site of n virtual
// accelerators on one node; extra is appended to the site's entry (indented
// four spaces), e.g. driver_options.
func localSite(n int, extra string) string {
	return fmt.Sprintf(`sites:
  - id: local
    kind: local
    country: DE
    driver: local
    default_walltime: 1h
    max_walltime: 48h
%s    pools:
      - {name: node, model: virtual, accelerators_per_node: %d, nodes: 1, cpus_per_node: 16}
`, extra, n)
}
