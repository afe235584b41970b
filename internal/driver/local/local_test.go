package local

import (
	"context"
	"errors"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
)

func newDriver(t *testing.T, dir string, roots ...string) *Driver {
	t.Helper()
	d, err := New(Options{Dir: dir, KillGrace: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond, AllowedRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		killAll(dir)
	})
	return d
}

// killAll ends every job left running under dir, so a failing test leaves
// no sleep 1000 behind.
func killAll(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "state", "*", supervisorFile))
	for _, p := range paths {
		var info supervisorInfo
		if readJSON(p, &info) == nil && alive(info.PID, info.StartTime) {
			killOrphans(info.PID, info.PGID)
			syscall.Kill(info.PID, syscall.SIGKILL)
		}
	}
}

// jobRoot is a directory a job may use as an allowed root: when the tests
// run as root, jobs run as nobody, who must be able to write it.
func jobRoot(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup(DefaultRunAs)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		// Reachable by path, as a site's scratch directory is.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func shJob(id core.JobID, script string) core.Job {
	return core.Job{ID: id, Name: "t", Project: "p", Spec: core.JobSpec{Command: []string{"sh", "-c", script}}}
}

// waitEnd polls d until job id reports a terminal update and returns it.
// waitEnds polls until every job of ids has ended and returns their
// terminal updates, whichever order they come in.
func waitEnds(t *testing.T, d *Driver, ids []core.JobID, within time.Duration) map[core.JobID]driver.Update {
	t.Helper()
	out := map[core.JobID]driver.Update{}
	deadline := time.Now().Add(within)
	for len(out) < len(ids) && time.Now().Before(deadline) {
		us, _ := d.Poll(context.Background())
		for _, u := range us {
			if slices.Contains(ids, u.JobID) && u.State.Terminal() {
				out[u.JobID] = u
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(out) < len(ids) {
		t.Fatalf("of jobs %v, only %d ended within %v", ids, len(out), within)
	}
	return out
}

func waitEnd(t *testing.T, d *Driver, id core.JobID, within time.Duration) driver.Update {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		us, _ := d.Poll(context.Background())
		for _, u := range us {
			if u.JobID == id && u.State.Terminal() {
				return u
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("job %d did not end within %v", id, within)
	return driver.Update{}
}

func start(t *testing.T, d *Driver, job core.Job) core.Job {
	t.Helper()
	h, err := d.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	job.Handle = h
	return job
}

func readLog(t *testing.T, d *Driver, job core.Job, stream string) string {
	t.Helper()
	rc, err := d.Logs(context.Background(), job, stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestExitStatusDecoding(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	tests := []struct {
		script string
		state  core.State
		code   int // -1: none
		signal string
	}{
		{"exit 0", core.StateCompleted, 0, ""},
		{"exit 137", core.StateFailed, 137, ""}, // not to be confused with SIGKILL
		{"kill -KILL $$", core.StateFailed, -1, "SIGKILL"},
		{"kill -SEGV $$", core.StateFailed, -1, "SIGSEGV"},
	}
	for i, tt := range tests {
		id := core.JobID(i + 1)
		start(t, d, shJob(id, tt.script))
		u := waitEnd(t, d, id, 5*time.Second)
		got := -1
		if u.ExitCode != nil {
			got = *u.ExitCode
		}
		if u.State != tt.state || got != tt.code || u.Signal != tt.signal {
			t.Errorf("%q: got %s code %d signal %q (%s), want %s code %d signal %q",
				tt.script, u.State, got, u.Signal, u.Reason, tt.state, tt.code, tt.signal)
		}
	}
}

func TestCancelKillsWholeGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	// The job ignores SIGTERM, so only the SIGKILL after the grace ends it,
	// and leaves a grandchild that must not survive either.
	job := start(t, d, shJob(1, `trap "" TERM; sleep 1000 & echo $! > child; echo ready; wait`))
	waitFile(t, filepath.Join(dir, "jobs/1/child"))
	var info supervisorInfo
	if err := readJSON(filepath.Join(dir, "state/1", supervisorFile), &info); err != nil {
		t.Fatal(err)
	}
	if m := groupMembers(info.PGID); len(m) < 2 {
		t.Fatalf("group %d has %v, want the shell and its sleep", info.PGID, m)
	}
	began := time.Now()
	if err := d.Cancel(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	u := waitEnd(t, d, 1, 5*time.Second)
	if u.State != core.StateCancelled {
		t.Fatalf("state %s (%s), want cancelled", u.State, u.Reason)
	}
	if el := time.Since(began); el < 200*time.Millisecond {
		t.Errorf("ended after %v, before the kill grace: SIGTERM was not ignored?", el)
	}
	if m := groupMembers(info.PGID); len(m) > 0 {
		t.Errorf("after cancel, group %d still has %v", info.PGID, m)
	}
	// Cancelling again, after the end, is a no-op.
	if err := d.Cancel(context.Background(), job); err != nil {
		t.Errorf("second cancel: %v", err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func TestWalltime(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	job := shJob(1, "sleep 10")
	job.Spec.Walltime = core.Duration(300 * time.Millisecond)
	start(t, d, job)
	u := waitEnd(t, d, 1, 5*time.Second)
	if u.State != core.StateTimeout || u.Reason != "walltime 300ms exceeded" {
		t.Errorf("got %s %q, want timeout %q", u.State, u.Reason, "walltime 300ms exceeded")
	}
	if u.Signal != "SIGTERM" {
		t.Errorf("signal %q, want SIGTERM", u.Signal)
	}
}

func TestOutputFiles(t *testing.T) {
	t.Parallel()
	wd := jobRoot(t)
	d := newDriver(t, t.TempDir(), wd)
	job := shJob(42, "echo out; echo err >&2")
	job.Spec.WorkDir = wd
	job.Spec.Output = "slurm-%j.out"
	job.Spec.Error = filepath.Join(wd, "err-%j-%%.log")
	start(t, d, job)
	waitEnd(t, d, 42, 5*time.Second)
	for path, want := range map[string]string{
		filepath.Join(wd, "slurm-42.out"): "out\n",
		filepath.Join(wd, "err-42-%.log"): "err\n",
	} {
		b, err := os.ReadFile(path)
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", path, b, err, want)
		}
	}
	if got := readLog(t, d, job, "stderr"); got != "err\n" {
		t.Errorf("Logs(stderr) = %q", got)
	}
}

func TestSameFileForBothStreams(t *testing.T) {
	t.Parallel()
	wd := jobRoot(t)
	d := newDriver(t, t.TempDir(), wd)
	job := shJob(1, "echo one; echo two >&2; echo three")
	job.Spec.WorkDir, job.Spec.Output, job.Spec.Error = wd, "all.log", "all.log"
	start(t, d, job)
	waitEnd(t, d, 1, 5*time.Second)
	if got := readLog(t, d, job, "stdout"); got != "one\ntwo\nthree\n" {
		t.Errorf("merged output %q", got)
	}
}

func TestScript(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	for i, script := range []string{
		"echo $((6*7))\n",     // run with the shell
		"#!/bin/cat\nwhole\n", // run by its #! line: cat prints the script
	} {
		id := core.JobID(i + 1)
		job := start(t, d, core.Job{ID: id, Spec: core.JobSpec{Script: script}})
		if u := waitEnd(t, d, id, 5*time.Second); u.State != core.StateCompleted {
			t.Fatalf("%q: %s %s", script, u.State, u.Reason)
		}
		want := []string{"42\n", "#!/bin/cat\nwhole\n"}[i]
		if got := readLog(t, d, job, "stdout"); got != want {
			t.Errorf("%q printed %q, want %q", script, got, want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	root := jobRoot(t)
	d := newDriver(t, t.TempDir(), root)
	missing := filepath.Join(root, "nope")
	tests := map[string]struct {
		job  core.Job
		want string
	}{
		"missing workdir": {core.Job{ID: 1, Spec: core.JobSpec{Command: []string{"true"}, WorkDir: missing}}, "workdir: " + missing + " does not exist"},
		"no command":      {core.Job{ID: 2}, "neither a command nor a script"},
		"not found":       {core.Job{ID: 3, Spec: core.JobSpec{Command: []string{"gf-no-such-program"}}}, "executable file not found"},
	}
	for name, tt := range tests {
		_, err := d.Start(context.Background(), tt.job)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want it to contain %q", name, err, tt.want)
		}
	}
	if us, _ := d.Poll(context.Background()); len(us) > 0 {
		t.Errorf("failed starts gave updates %v", us)
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir())
	job := shJob(7, "env")
	job.Attempt = 2
	job.Spec.Env = map[string]string{"FOO": "bar", "GF_JOB_ID": "spoofed"}
	job.Alloc = &core.Allocation{Site: "here", Nodes: []core.NodeAlloc{
		{Node: "n1", Accels: []int{2, 3}}, {Node: "n1", Accels: []int{5}, Milli: 250},
	}}
	start(t, d, job)
	waitEnd(t, d, 7, 5*time.Second)
	out := readLog(t, d, job, "stdout")
	for _, want := range []string{"FOO=bar", "GF_JOB_ID=7", "GF_JOB_NAME=t", "GF_PROJECT=p", "GF_ATTEMPT=2",
		"GF_NODE=n1", "CUDA_VISIBLE_DEVICES=2,3,5", "ROCR_VISIBLE_DEVICES=2,3,5", "HIP_VISIBLE_DEVICES=2,3,5",
		"GF_ACCELERATORS=2,3,5", "GF_ACCELERATOR_MILLI=250",
		"SLURM_JOB_ID=7", "SLURM_JOB_NAME=t", "SLURM_JOB_ACCOUNT=p", "SLURM_JOB_NUM_NODES=1", "SLURM_NTASKS=1",
		"SLURM_GPUS_ON_NODE=3", "SLURM_JOB_NODELIST=n1", "SLURM_CLUSTER_NAME=here"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("environment lacks %s:\n%s", want, out)
		}
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	job := shJob(1, `trap "echo got USR1; exit 0" USR1; echo ready > ready; while :; do sleep 0.05; done`)
	job.Spec.Error = "err" // the shell reports its sleep killed by the signal
	job = start(t, d, job)
	waitFile(t, filepath.Join(dir, "jobs/1/ready"))
	if err := d.Signal(context.Background(), job, "SIGUSR1"); err != nil {
		t.Fatal(err)
	}
	if u := waitEnd(t, d, 1, 5*time.Second); u.State != core.StateCompleted {
		t.Errorf("state %s %s, want completed by its trap", u.State, u.Reason)
	}
	if got := readLog(t, d, job, "stdout"); got != "got USR1\n" {
		t.Errorf("stdout %q", got)
	}
	if err := d.Signal(context.Background(), job, "SIGBOGUS"); err == nil {
		t.Error("unknown signal accepted")
	}
}

// TestAdoptRunning restarts the controller (a new Driver on the same Dir)
// while a job runs: the new driver must follow it to its real exit code.
func TestAdoptRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d1 := newDriver(t, dir)
	job := start(t, d1, shJob(1, `echo ready > ready; while [ ! -e go ]; do sleep 0.02; done; exit 5`))
	waitFile(t, filepath.Join(dir, "jobs/1/ready"))
	d1.Close()

	d2 := newDriver(t, dir)
	us, err := d2.Adopt(context.Background(), []core.Job{job})
	if err != nil || len(us) != 1 || us[0].State != core.StateRunning || us[0].Handle != job.Handle {
		t.Fatalf("Adopt = %v, %v; want running with handle %s", us, err, job.Handle)
	}
	// The adopted job can be signalled and ends with its own exit code.
	os.WriteFile(filepath.Join(dir, "jobs/1/go"), nil, 0o644)
	u := waitEnd(t, d2, 1, 5*time.Second)
	if u.State != core.StateFailed || u.ExitCode == nil || *u.ExitCode != 5 {
		t.Errorf("got %+v, want failed with exit code 5", u)
	}
	// The closed driver reports nothing.
	if us, _ := d1.Poll(context.Background()); len(us) != 1 || us[0].State != core.StateRunning {
		t.Errorf("closed driver reported %v, want only the running update from before", us)
	}
}

func TestAdoptCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d1 := newDriver(t, dir)
	job := start(t, d1, shJob(1, `echo ready > ready; sleep 1000`))
	waitFile(t, filepath.Join(dir, "jobs/1/ready"))
	d1.Close()
	d2 := newDriver(t, dir)
	if err := d2.Cancel(context.Background(), job); !errors.Is(err, driver.ErrUnknownJob) {
		t.Errorf("cancel before adopt: %v, want ErrUnknownJob", err)
	}
	if _, err := d2.Adopt(context.Background(), []core.Job{job}); err != nil {
		t.Fatal(err)
	}
	if err := d2.Cancel(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if u := waitEnd(t, d2, 1, 5*time.Second); u.State != core.StateCancelled {
		t.Errorf("state %s %s, want cancelled", u.State, u.Reason)
	}
}

// TestAdoptEnded restarts the controller after the job ended unobserved.
func TestAdoptEnded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d1 := newDriver(t, dir)
	job := start(t, d1, shJob(1, "sleep 0.2; exit 4"))
	d1.Close() // before the end, which it therefore never reports
	waitFile(t, filepath.Join(dir, "state/1", exitFile))
	pid, st, _ := parseHandle(job.Handle)
	for alive(pid, st) { // the supervisor exits right after writing
		time.Sleep(5 * time.Millisecond)
	}

	d2 := newDriver(t, dir)
	us, err := d2.Adopt(context.Background(), []core.Job{job})
	if err != nil || len(us) != 1 {
		t.Fatalf("Adopt = %v, %v", us, err)
	}
	if u := us[0]; u.State != core.StateFailed || u.ExitCode == nil || *u.ExitCode != 4 {
		t.Errorf("got %+v, want failed with exit code 4", u)
	}
	// Adopt answered for the end; Poll does not repeat it.
	time.Sleep(50 * time.Millisecond)
	if us, _ := d2.Poll(context.Background()); len(us) > 0 {
		t.Errorf("Poll after Adopt: %v", us)
	}
}

func TestAdoptLost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	self, _ := readStat(os.Getpid())
	jobs := []core.Job{
		{ID: 1, Handle: formatHandle(os.Getpid(), self.starttime+1)}, // a recycled pid
		{ID: 2, Handle: "pid:999999999:1"},
		{ID: 3},
		{ID: 4, Handle: "garbage"},
	}
	us, err := d.Adopt(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		if u.JobID != jobs[i].ID || u.State != core.StateFailed || u.Reason != "controller restarted" {
			t.Errorf("job %d: %+v, want failed, controller restarted", jobs[i].ID, u)
		}
	}
}

// TestSupervisorKilled: if the supervisor itself dies (OOM killer, an
// operator), the job fails and what is left of it is killed.
func TestSupervisorKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	job := start(t, d, shJob(1, `echo ready > ready; sleep 1000`))
	waitFile(t, filepath.Join(dir, "jobs/1/ready"))
	pid, _, _ := parseHandle(job.Handle)
	var info supervisorInfo
	readJSON(filepath.Join(dir, "state/1", supervisorFile), &info)
	syscall.Kill(pid, syscall.SIGKILL)
	u := waitEnd(t, d, 1, 5*time.Second)
	if u.State != core.StateFailed || !strings.Contains(u.Reason, "supervisor") {
		t.Errorf("got %+v, want failed for the supervisor", u)
	}
	// SIGKILL is delivered at once, but dying takes a moment.
	for i := 0; len(groupMembers(info.PGID)) > 0; i++ {
		if i == 100 {
			t.Fatalf("group %d survives: %v", info.PGID, groupMembers(info.PGID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeftoversKilled: when the job's main process exits, what it left
// running in its group is ended, as Slurm does at the end of a batch script.
func TestLeftoversKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir)
	start(t, d, shJob(1, `sleep 1000 & echo $! > child; exit 0`))
	if u := waitEnd(t, d, 1, 5*time.Second); u.State != core.StateCompleted {
		t.Fatalf("state %s %s", u.State, u.Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, "jobs/1/child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; ; i++ {
		st, err := readStat(pid)
		if err != nil || st.state == 'Z' {
			break
		}
		if i == 100 {
			t.Fatalf("the job's background sleep (pid %d) survived its end", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMain moves the tests' temporary directories out of /tmp: jobs of a
// root server get a private /tmp, so allowed roots may not lie there.
func TestMain(m *testing.M) {
	if os.Getenv("GF_TEST_NONROOT_DIR") != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("/var/tmp", "gf-local-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o711)
	os.Setenv("TMPDIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
