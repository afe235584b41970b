package securitytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireRoot fails the test (or skips it, outside CI) when not root: the
// privilege-dropping half of the boundary can only be checked as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, which CI has")
	}
	t.Skip("needs root")
}

// TestJobCannotReadDataDir runs, as one tenant, a job that tries every way
// to read the server's data directory and another tenant's job directory:
// with the server as root (jobs run as an unprivileged account, under
// Landlock where the kernel has it) and as an unprivileged user itself
// (Landlock is then the boundary).
func TestJobCannotReadDataDir(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		uid  int
	}{{"server as root", 0}, {"server as non-root", nobody}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, serverOptions{config: localSite(4, ""), uid: tc.uid})
			ten := s.addTenants()
			before := s.secrets()
			// bob's job leaves a secret in its own directory.
			secret := "bob-secret-7d1e"
			jb := s.submit(ten.bob, map[string]any{"project": "probe", "command": []string{"sh", "-c", "echo " + secret + " > secret.txt; echo " + secret}})
			if jb = s.waitEnd(ten.bob, jb.ID); jb.State != "completed" {
				t.Fatalf("bob's job ended %s: %s", jb.State, jb.Reason)
			}
			jobs := filepath.Join(s.data, "sites", "local", "jobs")
			script := strings.Join([]string{
				"cat " + s.data + "/admin.token",
				"cat " + s.data + "/gf.db | head -c 64",
				"ls -la " + s.data,
				"cat ../../../../admin.token",
				fmt.Sprintf("cat %s/%d/stdout %s/%d/secret.txt", jobs, jb.ID, jobs, jb.ID),
				fmt.Sprintf("cat ../%d/stdout ../%d/secret.txt", jb.ID, jb.ID),
				"find " + s.dir + " -name admin.token -exec cat {} \\;",
				"echo done",
			}, "; ")
			ja := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sh", "-c", script}})
			ja = s.waitEnd(ten.alice, ja.ID)
			out := string(s.logs(ten.alice, ja.ID, "stdout").body) + string(s.logs(ten.alice, ja.ID, "stderr").body)
			if !strings.Contains(out, "done") {
				t.Fatalf("the probing job did not run (%s: %s); output:\n%s", ja.State, ja.Reason, out)
			}
			if strings.Contains(out, before.token) {
				t.Fatalf("a job read the admin token:\n%s", out)
			}
			if strings.Contains(out, "SQLite format") {
				t.Fatalf("a job read the database:\n%s", out)
			}
			if strings.Contains(out, secret) {
				t.Fatalf("a job read another tenant's job directory:\n%s", out)
			}
			s.intact(before)
			t.Logf("what the job saw:\n%s", out)
		})
	}
}

// TestDataDirIsPrivate: the data directory is 0700 and its files 0600 after
// a start, even when they were made world-readable before.
func TestDataDirIsPrivate(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	j := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"echo", "hi"}})
	s.waitEnd(ten.alice, j.ID)
	s.stop()
	// Loosen everything, as an old version or an operator's cp -r would.
	_ = filepath.Walk(s.data, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if fi.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	s.launch()
	j2 := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"echo", "hi"}})
	s.waitEnd(ten.alice, j2.ID)
	check := func(p string, want os.FileMode) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return
		}
		if fi.Mode().Perm()&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", p, fi.Mode().Perm(), want)
		}
	}
	check(s.data, 0o700)
	for _, f := range []string{"gf.db", "gf.db-wal", "admin.token"} {
		if _, err := os.Stat(filepath.Join(s.data, f)); err == nil {
			check(filepath.Join(s.data, f), 0o600)
		}
	}
	out := filepath.Join(s.data, "sites", "local", "jobs", fmt.Sprint(j2.ID), fmt.Sprintf("slurm-%d.out", j2.ID))
	check(out, 0o600)
}

// TestOwnFaultsFailAlone: jobs that fail by their own fault (an argument
// over the kernel's limit, an output in a missing directory, a program that
// does not exist or is not executable) fail alone, with the reason; the site
// stays active and another tenant's job runs at once.
func TestOwnFaultsFailAlone(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	bad := []map[string]any{
		{"project": "rocket", "command": []string{"echo", strings.Repeat("x", 140<<10)}},
		{"project": "rocket", "command": []string{"echo", "hi"}, "output": "missing/dir/out.txt"},
		{"project": "rocket", "command": []string{"/nonexistent/program"}},
		{"project": "rocket", "command": []string{"/etc/hostname"}},
	}
	var ids []int64
	for i, spec := range bad {
		a := s.do(ten.alice, "POST", "/api/v1/jobs", spec)
		switch a.status {
		case 201:
			var j job
			a.decode(t, &j)
			ids = append(ids, j.ID)
		case 413, 422:
			t.Logf("bad job %d refused at submission: %s", i, a)
		default:
			t.Fatalf("bad job %d: %s", i, a)
		}
	}
	for _, id := range ids {
		j := s.waitEnd(ten.alice, id)
		if j.State != "failed" || j.Reason == "" {
			t.Errorf("job %d: want failed with a reason, got %s %q", id, j.State, j.Reason)
		}
		if strings.Contains(j.Reason, "unreachable") || strings.Contains(j.Reason, "retry") {
			t.Errorf("job %d: its own fault was taken for the site's: %q", id, j.Reason)
		}
	}
	jb := s.submit(ten.bob, map[string]any{"project": "probe", "command": []string{"echo", "fine"}})
	start := time.Now()
	jb = s.waitEnd(ten.bob, jb.ID)
	if jb.State != "completed" {
		t.Fatalf("bob's job ended %s: %s", jb.State, jb.Reason)
	}
	t.Logf("bob's job completed %v after submission", time.Since(start).Round(time.Millisecond))
	var site struct {
		State string `json:"state"`
	}
	s.mustDo(200, s.admin, "GET", "/api/v1/sites/local", nil).decode(t, &site)
	if site.State != "active" {
		t.Errorf("site state %q after the tenant's failed jobs, want active", site.State)
	}
	if strings.Contains(s.log.String(), "site unreachable") {
		t.Errorf("the server backed off from the site:\n%s", s.log.String())
	}
}
