package securitytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nobody is the unprivileged account jobs run as when the server is root.
const nobody = 65534

// sharedSite is a local site whose one allowed root is DIR/shared.
var sharedSite = localSite(4, "    driver_options: {allowed_roots: \"{DIR}/shared\"}\n")

// plantTraps puts into the allowed root "shared" what an attacker would
// plant there: symbolic links into the data directory, a hard link to the
// admin token and a file that belongs to somebody else.
func plantTraps(t *testing.T, s *server) (shared string) {
	t.Helper()
	shared = filepath.Join(s.dir, "shared")
	if err := os.MkdirAll(filepath.Join(shared, "sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(shared, "sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"tok":      filepath.Join(s.data, "admin.token"),
		"dbdir":    s.data,
		"sub/up":   "../../data",
		"loop":     "loop",
		"relative": "../data/gf.db",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(shared, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(shared, "victim.txt"), []byte("somebody else's file\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	// A hard link to the admin token, had the attacker been able to make one
	// (here the test makes it, as root).
	if err := os.Link(filepath.Join(s.data, "admin.token"), filepath.Join(shared, "hard")); err != nil {
		t.Fatal(err)
	}
	return shared
}

// escape is one hostile job path.
type escape struct {
	name  string
	field string // output, error or workdir
	path  string
	// lexical: refused at submission (422 naming field); otherwise it may
	// pass the lexical check and must then fail when the job starts.
	lexical bool
}

func escapes(data, shared string) []escape {
	return []escape{
		{"dotdot to the database", "output", "../../../../gf.db", true},
		{"one dotdot", "output", "../stdout", true},
		{"dotdot inside", "output", "out/../../x", true},
		{"absolute database", "output", data + "/gf.db", true},
		{"absolute admin token", "output", data + "/admin.token", true},
		{"error to the admin token", "error", data + "/admin.token", true},
		{"system file", "output", "/etc/passwd", true},
		{"proc root", "output", "/proc/self/root" + data + "/gf.db", true},
		{"double slash", "output", "/" + data + "/gf.db", true},
		{"NUL byte", "output", "out\x00.txt", true},
		{"very long", "output", strings.Repeat("a/", 3000) + "x", true},
		{"root as workdir", "workdir", "/", true},
		{"data dir as workdir", "workdir", data, true},
		{"dotdot workdir", "workdir", "../..", true},
		{"root then dotdot", "workdir", shared + "/../data", true},
		{"pattern expanding to dotdot", "output", "%x/%x/gf.db", true},
		{"symlink to the token", "output", shared + "/tok", false},
		{"symlink to the token, error", "error", shared + "/tok", false},
		{"through a symlinked dir", "output", shared + "/dbdir/gf.db", false},
		{"through a relative symlink dir", "error", shared + "/sub/up/admin.token", false},
		{"relative symlink", "output", shared + "/relative", false},
		{"symlink loop", "output", shared + "/loop", false},
		{"hard link to the token", "output", shared + "/hard", false},
		{"someone else's file", "output", shared + "/victim.txt", false},
		{"symlinked workdir", "workdir", shared + "/dbdir", false},
	}
}

// TestPathEscapes submits jobs whose output, error or working directory try
// to reach files outside the job's own directory and the allowed roots. Each
// is refused at submission with a 422 naming the field, or fails when it
// starts; none completes, and the data directory is untouched.
func TestPathEscapes(t *testing.T) {
	s := startServer(t, serverOptions{config: sharedSite, dirs: []string{"shared"}})
	ten := s.addTenants()
	shared := plantTraps(t, s)
	before := s.secrets()
	victim, _ := os.ReadFile(filepath.Join(shared, "victim.txt"))
	cases := escapes(s.data, shared)
	if len(cases) < 20 {
		t.Fatalf("only %d hostile paths", len(cases))
	}
	var started []int64
	for _, c := range cases {
		spec := map[string]any{"project": "rocket", "command": []string{"sh", "-c", "echo pwned; echo pwned >&2"}, c.field: c.path}
		if strings.Contains(c.path, "%x") {
			spec["name"] = ".."
		}
		if c.field == "error" {
			spec["workdir"] = "/nonexistent" // the finding: a failing workdir, and the error stream at a foreign file
			if !c.lexical {
				spec["workdir"] = shared
			}
		}
		a := s.do(ten.alice, "POST", "/api/v1/jobs", spec)
		switch {
		case a.status == 422:
			named := strings.Contains(string(a.body), `"field":"`+c.field+`"`) ||
				strings.Contains(c.path, "%x") && strings.Contains(string(a.body), `"field":"name"`)
			if !named {
				t.Errorf("%s: the 422 does not name %s: %s", c.name, c.field, a)
			}
		case c.lexical:
			t.Errorf("%s: %s=%q was not refused at submission: %s", c.name, c.field, c.path, a)
		case a.status == 201:
			var j job
			a.decode(t, &j)
			started = append(started, j.ID)
		default:
			t.Errorf("%s: unexpected answer %s", c.name, a)
		}
	}
	for _, id := range started {
		j := s.waitEnd(ten.alice, id)
		if j.State == "completed" {
			t.Errorf("job %d completed; its path should have been refused when it started", id)
		}
		for _, stream := range []string{"stdout", "stderr"} {
			if a := s.logs(ten.alice, id, stream); strings.Contains(string(a.body), before.token) {
				t.Fatalf("job %d: the %s log served the admin token", id, stream)
			}
		}
	}
	s.intact(before)
	if now, _ := os.ReadFile(filepath.Join(shared, "victim.txt")); string(now) != string(victim) {
		t.Errorf("victim.txt changed: %q", now)
	}
	t.Logf("%d hostile paths: %d refused at submission, %d failed at start", len(cases), len(cases)-len(started), len(started))
}

// TestOwnPathsWork checks the confinement leaves the legitimate uses alone:
// a relative output lands in the job's directory, an output in an allowed
// root is created there, private to the job's user.
func TestOwnPathsWork(t *testing.T) {
	s := startServer(t, serverOptions{config: sharedSite, dirs: []string{"shared"}})
	ten := s.addTenants()
	shared := filepath.Join(s.dir, "shared")
	j := s.submit(ten.alice, map[string]any{"project": "rocket", "name": "mine", "command": []string{"sh", "-c", "echo out; echo err >&2"}, "output": shared + "/%x-%j.out", "error": "err.txt"})
	j = s.waitEnd(ten.alice, j.ID)
	if j.State != "completed" {
		t.Fatalf("job ended %s: %s", j.State, j.Reason)
	}
	out := filepath.Join(shared, fmt.Sprintf("mine-%d.out", j.ID))
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "out\n" {
		t.Fatalf("output file: %q, %v", b, err)
	}
	fi, _ := os.Stat(out)
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("output %s has mode %v: want it private to the job's user", out, fi.Mode().Perm())
	}
	if a := s.logs(ten.alice, j.ID, "stdout"); a.status != 200 || string(a.body) != "out\n" {
		t.Errorf("stdout log: %s", a)
	}
	if a := s.logs(ten.alice, j.ID, "stderr"); a.status != 200 || string(a.body) != "err\n" {
		t.Errorf("stderr log: %s", a)
	}
}

// TestLogsServeOnlyOwnFiles: a job replaces its own output files by links
// to the admin token after writing them; the logs route must not follow.
func TestLogsServeOnlyOwnFiles(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	before := s.secrets()
	tok := filepath.Join(s.data, "admin.token")
	script := fmt.Sprintf(`for f in stdout stderr; do rm -f "$PWD/$f"; ln -s %q "$PWD/$f"; done; true`, tok)
	j := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sh", "-c", script}})
	s.waitEnd(ten.alice, j.ID)
	for _, stream := range []string{"stdout", "stderr"} {
		a := s.logs(ten.alice, j.ID, stream)
		if strings.Contains(string(a.body), before.token) {
			t.Fatalf("the %s log served the admin token: %s", stream, a)
		}
	}
	// The error stream of a job with a failing working directory pointed at
	// the token is refused outright.
	a := s.do(ten.alice, "POST", "/api/v1/jobs", map[string]any{"project": "rocket", "command": []string{"true"}, "workdir": "/nonexistent", "error": tok})
	if a.status != 422 {
		t.Fatalf("error at the admin token: want 422, got %s", a)
	}
	s.intact(before)
}
