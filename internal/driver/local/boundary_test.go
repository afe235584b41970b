package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// server is a gf data directory in miniature: DATA/gf.db, DATA/admin.token
// and the site's driver directory DATA/sites/s, with a sibling allowed root.
type server struct {
	data, site, root string
}

const secret = "gf_admin_SECRET"

func newServer(t *testing.T, owner int) server {
	t.Helper()
	base := t.TempDir()
	s := server{data: filepath.Join(base, "data"), root: filepath.Join(base, "scratch")}
	s.site = filepath.Join(s.data, "sites", "s")
	for _, d := range []string{s.site, s.root} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{"gf.db": "database\n", "admin.token": secret + "\n"} {
		if err := os.WriteFile(filepath.Join(s.data, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if owner >= 0 {
		for _, p := range []string{base, s.data, filepath.Join(s.data, "sites"), s.site, s.root,
			filepath.Join(s.data, "gf.db"), filepath.Join(s.data, "admin.token")} {
			if err := os.Chown(p, owner, owner); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

func (s server) intact(t *testing.T) {
	t.Helper()
	for name, want := range map[string]string{"gf.db": "database\n", "admin.token": secret + "\n"} {
		if b, err := os.ReadFile(filepath.Join(s.data, name)); err != nil || string(b) != want {
			t.Errorf("DATA/%s is now %q, %v", name, b, err)
		}
	}
}

// intruder is a job that tries to read the data directory, another job's
// directory (by path and through /proc/PID/cwd) and the host's /tmp, and
// to overwrite the token. It prints what it got and exits 0 whatever.
func intruder(s server, victimPID int) string {
	return fmt.Sprintf(`
cat %[1]s/admin.token
cat %[2]s/jobs/2/secret
cat /proc/%[3]d/cwd/secret
cat /proc/%[3]d/environ
echo overwritten > %[1]s/admin.token
ls /tmp
echo done
exit 0`, s.data, s.site, victimPID)
}

// victim starts job 2, which keeps a secret in its directory, and returns
// its process id.
func victim(t *testing.T, d *Driver, s server) int {
	t.Helper()
	start(t, d, shJob(2, `echo `+secret+` > secret; echo $$ > pid; GF_SECRET=`+secret+` exec sleep 1000`))
	pidFile := filepath.Join(s.site, "jobs/2/pid")
	waitFile(t, pidFile)
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// checkContained runs the intruder as job 1 and fails if it saw a secret.
func checkContained(t *testing.T, d *Driver, s server, victimPID int) {
	t.Helper()
	marker := fmt.Sprintf("/tmp/gf-boundary-%d", os.Getpid())
	os.WriteFile(marker, nil, 0o644)
	defer os.Remove(marker)
	job := start(t, d, shJob(1, intruder(s, victimPID)))
	if u := waitEnd(t, d, 1, 10*time.Second); u.State != core.StateCompleted {
		t.Fatalf("intruder ended %s %s", u.State, u.Reason)
	}
	out := readLog(t, d, job, "stdout")
	if !strings.Contains(out, "done") {
		t.Fatalf("the intruder did not run to its end: %q", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("a job read a secret:\n%s", out)
	}
	if strings.Contains(out, filepath.Base(marker)) {
		t.Errorf("a job listed the host's /tmp:\n%s", out)
	}
	s.intact(t)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root")
		}
		t.Skip("needs root")
	}
}

func needLandlock(t *testing.T) {
	t.Helper()
	if landlockABIVersion() < landlockABI {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs Landlock ABI %d, the kernel has %d", landlockABI, landlockABIVersion())
		}
		t.Skip("no Landlock")
	}
}

// TestBoundaryAsRoot: gf runs as root, jobs as nobody. With Landlock the
// job sees neither the data directory, nor another job's directory even
// through /proc, nor the host's /tmp; without it, the privilege drop alone
// keeps the data directory (0700 root) out of reach.
func TestBoundaryAsRoot(t *testing.T) {
	needRoot(t)
	for _, mode := range []string{LandlockAuto, LandlockOff} {
		t.Run(mode, func(t *testing.T) {
			if mode == LandlockAuto {
				needLandlock(t)
			}
			s := newServer(t, -1)
			d, err := New(Options{Dir: s.site, KillGrace: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
				AllowedRoots: []string{s.root}, Landlock: mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close(); killAll(s.site) })
			pid := -1
			if mode == LandlockAuto {
				// Both jobs run as nobody: only Landlock's scope keeps one
				// out of the other's /proc entries.
				pid = victim(t, d, s)
			}
			checkContained(t, d, s, pid)
		})
	}
}

// TestBoundaryUserMap: mapped to different accounts, two users' jobs are
// apart even without Landlock.
func TestBoundaryUserMap(t *testing.T) {
	needRoot(t)
	if _, err := user.Lookup("daemon"); err != nil {
		t.Skip("no daemon account")
	}
	s := newServer(t, -1)
	d, err := New(Options{Dir: s.site, KillGrace: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		UserMap: map[string]string{"alice": "daemon", "bob": DefaultRunAs}, Landlock: LandlockOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); killAll(s.site) })
	bob := shJob(2, `echo `+secret+` > secret; echo $$ > pid; exec sleep 1000`)
	bob.User = "bob"
	start(t, d, bob)
	waitFile(t, filepath.Join(s.site, "jobs/2/pid"))
	b, _ := os.ReadFile(filepath.Join(s.site, "jobs/2/pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	alice := shJob(1, "id -un\n"+intruder(s, pid))
	alice.User = "alice"
	alice = start(t, d, alice)
	waitEnd(t, d, 1, 10*time.Second)
	out := readLog(t, d, alice, "stdout")
	if !strings.Contains(out, "daemon\n") {
		t.Errorf("alice's job did not run as daemon:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("alice's job read bob's secret:\n%s", out)
	}
	s.intact(t)
}

// TestBoundaryNonRoot runs the driver as nobody (the test binary again,
// under that uid): Landlock is then the only boundary, and must hold.
func TestBoundaryNonRoot(t *testing.T) {
	if dir := os.Getenv("GF_TEST_NONROOT_DIR"); dir != "" {
		nonRootChild(t, dir)
		return
	}
	needRoot(t) // to become nobody
	needLandlock(t)
	u, err := user.Lookup(DefaultRunAs)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s := newServer(t, uid)
	// The test binary, where nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(s.data), "local.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(s.data); p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(p, fi.Mode().Perm()|0o011) // traversable, as a home directory would be
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestBoundaryNonRoot$", "-test.v")
	cmd.Env = append(os.Environ(), "GF_TEST_NONROOT_DIR="+filepath.Dir(s.data), "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBoundaryNonRoot") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	s.intact(t)
}

func nonRootChild(t *testing.T, base string) {
	if os.Geteuid() == 0 {
		t.Fatal("the child still runs as root")
	}
	s := server{data: filepath.Join(base, "data"), root: filepath.Join(base, "scratch")}
	s.site = filepath.Join(s.data, "sites", "s")
	// The server's own user can read its token: only Landlock stops a job.
	if b, err := os.ReadFile(filepath.Join(s.data, "admin.token")); err != nil || !strings.Contains(string(b), secret) {
		t.Fatalf("the server cannot read its own token: %v", err)
	}
	d, err := New(Options{Dir: s.site, KillGrace: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		AllowedRoots: []string{s.root}, Landlock: LandlockRequired})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); killAll(s.site) })
	checkContained(t, d, s, victim(t, d, s))
	// The same job without Landlock reads the token: the test can fail.
	open, err := New(Options{Dir: filepath.Join(s.data, "sites", "open"), Landlock: LandlockOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close(); killAll(filepath.Join(s.data, "sites", "open")) })
	job := start(t, open, shJob(9, "cat "+filepath.Join(s.data, "admin.token")))
	waitEnd(t, open, 9, 10*time.Second)
	if out := readLog(t, open, job, "stdout"); !strings.Contains(out, secret) {
		t.Errorf("without Landlock the job could not read the token either (%q): the check proves nothing", out)
	}
}

// TestStartFaults: what is the job's own fault fails its Start with a
// clear error that wraps the errno, never driver.ErrUnavailable.
func TestStartFaults(t *testing.T) {
	t.Parallel()
	root := jobRoot(t)
	d := newDriver(t, t.TempDir(), root)
	garbage := filepath.Join(root, "garbage")
	os.WriteFile(garbage, []byte("\x7fELF garbage"), 0o755)
	noexec := filepath.Join(root, "noexec")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	big := strings.Repeat("x", 200<<10)
	many := make([]string, 40)
	for i := range many {
		many[i] = strings.Repeat("y", 100<<10)
	}
	tests := map[string]struct {
		spec  core.JobSpec
		errno syscall.Errno // 0: a refused path
		want  string
	}{
		"200 KB argument":        {core.JobSpec{Command: []string{"echo", big}}, syscall.E2BIG, "command argument 1 is 204800 bytes"},
		"4 MB of arguments":      {core.JobSpec{Command: append([]string{"echo"}, many...)}, syscall.E2BIG, "argument list too long"},
		"output in missing dir":  {core.JobSpec{Command: []string{"true"}, Output: root + "/missing/out"}, syscall.ENOENT, "output " + root + "/missing/out"},
		"missing workdir":        {core.JobSpec{Command: []string{"true"}, WorkDir: root + "/nope"}, syscall.ENOENT, "does not exist"},
		"program not found":      {core.JobSpec{Command: []string{"gf-no-such-program"}}, syscall.ENOENT, "executable file not found"},
		"exec format":            {core.JobSpec{Command: []string{garbage}}, syscall.ENOEXEC, "exec format error"},
		"not executable":         {core.JobSpec{Command: []string{noexec}}, syscall.EACCES, "permission denied"},
		"output out of its dir":  {core.JobSpec{Command: []string{"true"}, Output: "../../../../gf.db"}, 0, "output:"},
		"error on the token":     {core.JobSpec{Command: []string{"true"}, Error: "/etc/gf-admin.token"}, 0, "outside the site's allowed roots"},
		"job name climbs via %x": {core.JobSpec{Name: "..", Command: []string{"true"}, Output: "%x/x"}, 0, "%x expands"},
	}
	id := core.JobID(0)
	for name, tt := range tests {
		id++
		_, err := d.Start(context.Background(), core.Job{ID: id, Spec: tt.spec})
		switch {
		case err == nil:
			t.Errorf("%s: started", name)
			continue
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: %v, want it to say %q", name, err, tt.want)
		case errors.Is(err, driver.ErrUnavailable):
			t.Errorf("%s: %v blames the site", name, err)
		}
		var pe *jobpath.Error
		if tt.errno != 0 && !errors.Is(err, tt.errno) {
			t.Errorf("%s: %v does not wrap %v", name, err, tt.errno)
		}
		if tt.errno == 0 && !errors.As(err, &pe) {
			t.Errorf("%s: %v is not a *jobpath.Error", name, err)
		}
	}
	if us, _ := d.Poll(context.Background()); len(us) > 0 {
		t.Errorf("failed starts gave updates %v", us)
	}
}

// TestOutputsNeverClobber: outputs that lead to someone else's file fail
// the job's start and leave the file as it was.
func TestOutputsNeverClobber(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	root := jobRoot(t)
	d := newDriver(t, s.site, root)
	other := filepath.Join(root, "other")
	os.WriteFile(other, []byte("keep\n"), 0o666)
	os.Chown(other, 12345, 12345)
	os.Symlink(filepath.Join(s.data, "gf.db"), filepath.Join(root, "db"))
	os.Link(filepath.Join(s.data, "admin.token"), filepath.Join(root, "tok"))
	tests := map[string]string{
		"symlink to the database": root + "/db",
		"hard link to the token":  root + "/tok",
	}
	if os.Geteuid() == 0 {
		tests["another user's file"] = other
	}
	id := core.JobID(0)
	for name, out := range tests {
		id++
		_, err := d.Start(context.Background(), core.Job{ID: id, Spec: core.JobSpec{Command: []string{"echo", "pwned"}, Output: out}})
		if err == nil || !strings.Contains(err.Error(), out) {
			t.Errorf("%s: %v, want an error naming %s", name, err, out)
		}
	}
	if b, _ := os.ReadFile(other); string(b) != "keep\n" {
		t.Errorf("another user's file is now %q", b)
	}
	s.intact(t)
}

// TestLogsServeOnlyOwnFiles: a job that swaps its output for a link to the
// token after it ended gets nothing out of Logs.
func TestLogsServeOnlyOwnFiles(t *testing.T) {
	t.Parallel()
	s := newServer(t, -1)
	d := newDriver(t, s.site)
	job := start(t, d, shJob(1, `echo out; echo err >&2;
rm slurm-1.out; ln -s `+s.data+`/admin.token slurm-1.out; ln -s ../../../../admin.token stdout`))
	waitEnd(t, d, 1, 5*time.Second)
	logsRefused := func(when string) {
		t.Helper()
		for _, stream := range []string{"stdout", "stderr"} {
			rc, err := d.Logs(context.Background(), job, stream)
			if err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Errorf("%s: Logs(%s) served %q", when, stream, b)
			}
		}
	}
	logsRefused("a symlink")
	// As root the job cannot reach the token at all; plant what a job of
	// the server's own user could have: a hard link as the output file, and
	// as the file of the old name Logs falls back to when there is none.
	jd := filepath.Join(s.site, "jobs/1")
	for _, name := range []string{"slurm-1.out", "stdout"} {
		os.Remove(filepath.Join(jd, name))
		if err := os.Link(filepath.Join(s.data, "admin.token"), filepath.Join(jd, name)); err != nil {
			t.Fatal(err)
		}
	}
	logsRefused("a hard link")
	os.Remove(filepath.Join(jd, "slurm-1.out"))
	logsRefused("an old name hard-linked")
	// And a spec naming the token is refused before any open.
	bad := job
	bad.Spec.Error = filepath.Join(s.data, "admin.token")
	if rc, err := d.Logs(context.Background(), bad, "stderr"); err == nil {
		rc.Close()
		t.Error("Logs served a file named by an absolute path outside the roots")
	}
}

// TestStateNotWritableByJob: the records a restarted controller trusts
// are out of the job's reach.
func TestStateNotWritableByJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	state := filepath.Join(dir, "state/1")
	job := start(t, d, shJob(1, `echo '{"attempt":0,"pid":1,"starttime":1,"pgid":1}' > `+state+`/supervisor.json && echo forged`))
	waitEnd(t, d, 1, 5*time.Second)
	if out := readLog(t, d, job, "stdout"); strings.Contains(out, "forged") {
		t.Errorf("the job rewrote its supervisor.json")
	}
	var info supervisorInfo
	if err := readJSON(filepath.Join(state, supervisorFile), &info); err != nil || info.PGID == 1 {
		t.Errorf("supervisor.json: %+v, %v", info, err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "state"), state, filepath.Join(dir, "jobs/1")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", p, fi.Mode(), err)
		}
	}
	for _, p := range []string{filepath.Join(state, supervisorFile), filepath.Join(state, exitFile), filepath.Join(dir, "jobs/1/slurm-1.out")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, fi.Mode(), err)
		}
	}
}

func TestOptionsFromSite(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tests := map[string]struct {
		opts map[string]string
		want string // error text; empty: no error
	}{
		"none":            {nil, ""},
		"all":             {map[string]string{"allowed_roots": "/srv/a:/srv/b", "run_as": "gfjobs", "user_map": "alice=alice, bob=b123", "landlock": "required"}, ""},
		"same":            {map[string]string{"user_map": "same"}, ""},
		"unknown key":     {map[string]string{"alowed_roots": "/srv"}, "driver_options.alowed_roots"},
		"relative root":   {map[string]string{"allowed_roots": "srv"}, "not absolute"},
		"root holds DATA": {map[string]string{"allowed_roots": filepath.Dir(data)}, "contains the data directory"},
		"root in DATA":    {map[string]string{"allowed_roots": filepath.Join(data, "sites")}, "inside the data directory"},
		"bad landlock":    {map[string]string{"landlock": "maybe"}, "driver_options.landlock"},
		"bad user_map":    {map[string]string{"user_map": "alice"}, "driver_options.user_map"},
	}
	for name, tt := range tests {
		o, err := OptionsFromSite(core.Site{ID: "s", DriverOptions: tt.opts}, data)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error saying %q", name, err, tt.want)
		}
		if name == "all" && (strings.Join(o.AllowedRoots, " ") != "/srv/a /srv/b" || o.RunAs != "gfjobs" ||
			o.UserMap["bob"] != "b123" || o.Landlock != LandlockRequired || o.Dir != filepath.Join(data, "sites", "s")) {
			t.Errorf("all: %+v", o)
		}
		if name == "same" && o.UserMap[anyUserKey] != sameUser {
			t.Errorf("same: %+v", o.UserMap)
		}
	}
}
