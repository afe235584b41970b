package slurm

// Tests against the real one-machine Slurm that scripts/slurm/start.sh runs
// (scripts/test.d/20-slurm.sh exports where). Without it they skip, unless
// CI is set: then they fail.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
)

// cluster is the test Slurm.
type cluster struct {
	URL, User, Token, TokenFile, TokenCommand, Dir string
}

func testCluster(t testing.TB) cluster {
	t.Helper()
	c := cluster{
		URL: os.Getenv("GF_TEST_SLURM_URL"), User: os.Getenv("GF_TEST_SLURM_USER"),
		Token: os.Getenv("GF_TEST_SLURM_TOKEN"), TokenFile: os.Getenv("GF_TEST_SLURM_TOKEN_FILE"),
		TokenCommand: os.Getenv("GF_TEST_SLURM_TOKEN_COMMAND"), Dir: os.Getenv("GF_TEST_SLURM_DIR"),
	}
	if c.URL == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but GF_TEST_SLURM_URL is not: scripts/test.d/20-slurm.sh did not start Slurm")
		}
		t.Skip("no test Slurm: run scripts/test.sh, or eval \"$(sudo bash scripts/slurm/start.sh)\"")
	}
	if c.Token == "" && c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			t.Fatal(err)
		}
		c.Token = string(parseToken(b))
	}
	if c.Dir == "" {
		c.Dir = "/tmp/gf-slurm"
	}
	return c
}

// uniquePrefix gives each test its own tag namespace: the cluster outlives
// test runs and job ids repeat.
func uniquePrefix(name string) string {
	return fmt.Sprintf("gft%s%x", strings.ToLower(name), rand.Uint32()&0xffffff)
}

func (c cluster) options(prefix string) Options {
	return Options{
		URL: c.URL, User: c.User, Token: c.Token, TagPrefix: prefix, Partition: "gpu",
		WorkDir: filepath.Join(c.Dir, "jobs"), Timeout: 5 * time.Second, Backoff: 100 * time.Millisecond,
		FullSync: 5 * time.Second, Retries: -1,
	}
}

func newTestDriver(t testing.TB, opts Options) *Driver {
	t.Helper()
	d, err := NewWithOptions("test", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c := testCluster(t)
	t.Cleanup(func() { cancelPrefix(t, c, opts.TagPrefix) })
	return d
}

// cancelPrefix cancels the jobs a test left in Slurm (a failed test's
// "sleep 300", a benchmark's queue) so that they hold nothing up for the
// tests after it.
func cancelPrefix(t testing.TB, c cluster, prefix string) {
	for _, j := range slurmJobs(t, c) {
		if _, ok := parseTag(prefix, j.Comment); !ok || (mapState(j).State.Terminal() && !mapState(j).Never) {
			continue
		}
		req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/slurm/v0.0.38/job/%d", c.URL, j.ID), nil)
		req.Header.Set("X-SLURM-USER-NAME", c.User)
		req.Header.Set("X-SLURM-USER-TOKEN", c.Token)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}
}

// script runs a file of scripts/slurm.
func script(t testing.TB, name string, args ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "slurm", name)}, args...)...)
	cmd.Env = append(os.Environ(), "GF_SLURM_DIR="+testCluster(t).Dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	}
}

// slurmJobs lists every job in the cluster through the raw API.
func slurmJobs(t testing.TB, c cluster) []jobInfo {
	t.Helper()
	req, _ := http.NewRequest("GET", c.URL+"/slurm/v0.0.38/jobs", nil)
	req.Header.Set("X-SLURM-USER-NAME", c.User)
	req.Header.Set("X-SLURM-USER-TOKEN", c.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	jobs, err := v0038{}.DecodeJobs(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// slurmJob reads one job through the raw API.
func slurmJob(t testing.TB, c cluster, handle string) jobInfo {
	t.Helper()
	for _, j := range slurmJobs(t, c) {
		if fmt.Sprint(j.ID) == handle {
			return j
		}
	}
	t.Fatalf("Slurm job %s not found", handle)
	return jobInfo{}
}

// tagCount counts Slurm jobs per tag of prefix.
func tagCount(t testing.TB, c cluster, prefix string) map[tag]int {
	n := map[tag]int{}
	for _, j := range slurmJobs(t, c) {
		if tg, ok := parseTag(prefix, j.Comment); ok {
			n[tg]++
		}
	}
	return n
}

// collector polls a driver until the wanted jobs end, keeping every update.
type collector struct {
	d      *Driver
	ends   map[core.JobID]driver.Update
	states map[core.JobID][]core.State
}

func newCollector(d *Driver) *collector {
	return &collector{d: d, ends: map[core.JobID]driver.Update{}, states: map[core.JobID][]core.State{}}
}

func (c *collector) poll(t testing.TB) error {
	us, err := c.d.Poll(context.Background())
	for _, u := range us {
		c.states[u.JobID] = append(c.states[u.JobID], u.State)
		if u.State.Terminal() {
			if _, dup := c.ends[u.JobID]; dup {
				t.Errorf("job %d ended twice", u.JobID)
			}
			c.ends[u.JobID] = u
		}
	}
	return err
}

func (c *collector) waitEnds(t testing.TB, ids []core.JobID, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := c.poll(t); err != nil {
			t.Logf("poll: %v", err)
		}
		missing := 0
		for _, id := range ids {
			if _, ok := c.ends[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs did not end within %v", missing, len(ids), timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *collector) waitRunning(t testing.TB, id core.JobID, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := c.poll(t); err != nil {
			t.Logf("poll: %v", err)
		}
		for _, s := range c.states[id] {
			if s == core.StateRunning {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %d not running within %v (states %v)", id, timeout, c.states[id])
}

// shJob is a job running a shell snippet on nodes x perNode GPUs.
func shJob(id core.JobID, sh string, nodes, perNode int) core.Job {
	a := &core.Allocation{Site: "test"}
	for i := 0; i < nodes; i++ {
		n := core.NodeAlloc{Node: fmt.Sprintf("node%d", i+1)}
		for g := 0; g < perNode; g++ {
			n.Accels = append(n.Accels, g)
		}
		a.Nodes = append(a.Nodes, n)
	}
	return core.Job{ID: id, Project: "proj-test", Spec: core.JobSpec{Command: []string{"sh", "-c", sh}}, Alloc: a}
}

// TestMixedShapes runs 50 jobs of 1-8 GPUs on 1-3 nodes; each checks that
// it sees its GPUs and nodes, and exits with its own code.
func TestMixedShapes(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	prefix := uniquePrefix("mix")
	d := newTestDriver(t, c.options(prefix))
	type shape struct{ nodes, per int }
	shapes := []shape{{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}, {3, 1}, {3, 2}, {1, 3}, {2, 3}}
	var ids []core.JobID
	want := map[core.JobID]int{}
	ctx := context.Background()
	for i := range 50 {
		s := shapes[i%len(shapes)]
		id := core.JobID(1000 + i)
		code := i % 5
		// One task per node: each must see its GPUs; the exit code of srun
		// is the highest of the tasks'.
		sh := fmt.Sprintf(`n=$(echo "$CUDA_VISIBLE_DEVICES" | tr , '\n' | grep -c .); `+
			`[ "$n" = %d ] || exit 90; [ "$SLURM_JOB_NUM_NODES" = %d ] || exit 91; [ "$GF_JOB_ID" = %d ] || exit 92; sleep 0.%d; exit %d`,
			s.per, s.nodes, id, i%10, code)
		job := shJob(id, sh, s.nodes, s.per)
		h, err := d.Start(ctx, job)
		if err != nil {
			t.Fatalf("start %d (%dx%d): %v", id, s.nodes, s.per, err)
		}
		if h == "" {
			t.Fatalf("start %d: empty handle", id)
		}
		ids = append(ids, id)
		want[id] = code
	}
	col := newCollector(d)
	col.waitEnds(t, ids, 150*time.Second)
	for _, id := range ids {
		u := col.ends[id]
		wantState := core.StateCompleted
		if want[id] != 0 {
			wantState = core.StateFailed
		}
		if u.State != wantState || u.ExitCode == nil || *u.ExitCode != want[id] {
			got := -1
			if u.ExitCode != nil {
				got = *u.ExitCode
			}
			t.Errorf("job %d: %s exit %d (%s), want %s exit %d", id, u.State, got, u.Reason, wantState, want[id])
		}
		if st := col.states[id]; len(st) != 2 || st[0] != core.StateRunning {
			t.Errorf("job %d: states %v, want running then the end", id, st)
		}
	}
	for tg, n := range tagCount(t, c, prefix) {
		if n != 1 {
			t.Errorf("tag %v: %d Slurm jobs, want 1", tg, n)
		}
	}
}

// TestCancelAndSignal cancels a pending and a running job, and signals one
// that traps the signal.
func TestCancelAndSignal(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	d := newTestDriver(t, c.options(uniquePrefix("cancel")))
	ctx := context.Background()
	run := shJob(1, "sleep 300", 1, 1)
	sig := shJob(2, `trap 'exit 42' USR1; sleep 300 & wait`, 1, 1)
	var err error
	for _, j := range []*core.Job{&run, &sig} {
		if j.Handle, err = d.Start(ctx, *j); err != nil {
			t.Fatal(err)
		}
	}
	col := newCollector(d)
	col.waitRunning(t, 1, 30*time.Second)
	col.waitRunning(t, 2, 30*time.Second)
	// RUNNING in Slurm comes a moment before the script has set its trap.
	time.Sleep(2 * time.Second)
	if err := d.Cancel(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(ctx, sig, "USR1"); err != nil {
		t.Fatal(err)
	}
	col.waitEnds(t, []core.JobID{1, 2}, 30*time.Second)
	if u := col.ends[1]; u.State != core.StateCancelled || u.Reason != "cancelled" {
		t.Errorf("cancelled job: %s (%s)", u.State, u.Reason)
	}
	if u := col.ends[2]; u.State != core.StateFailed || u.ExitCode == nil || *u.ExitCode != 42 {
		t.Errorf("signalled job: %+v, want failed with exit 42 from its trap", u)
	}
	if err := d.Cancel(ctx, run); err != nil {
		t.Errorf("cancel of an ended job: %v", err)
	}
	if err := d.Signal(ctx, sig, "NOSUCH"); err == nil {
		t.Error("bad signal name accepted")
	}
	// Output: the one-machine cluster writes where the controller reads;
	// stderr goes with stdout unless the job names an error file, as with
	// sbatch.
	hello := shJob(3, "echo out-$GF_JOB_ID; echo err-$GF_ATTEMPT >&2", 1, 0)
	apart := shJob(4, "echo out-$GF_JOB_ID; echo err-$GF_ATTEMPT >&2", 1, 0)
	apart.Spec.Error = "err-%j.txt"
	for _, j := range []*core.Job{&hello, &apart} {
		if j.Handle, err = d.Start(ctx, *j); err != nil {
			t.Fatal(err)
		}
	}
	col.waitEnds(t, []core.JobID{3, 4}, 30*time.Second)
	for _, tc := range []struct {
		job          core.Job
		stream, want string
	}{{hello, "stdout", "out-3\nerr-0\n"}, {hello, "stderr", "out-3\nerr-0\n"}, {apart, "stdout", "out-4\n"}, {apart, "stderr", "err-0\n"}} {
		stream, want := tc.stream, tc.want
		rc, err := d.Logs(ctx, tc.job, stream)
		if err != nil {
			t.Fatalf("Logs %s: %v", stream, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != want {
			t.Errorf("job %d: %s = %q, want %q", tc.job.ID, stream, b, want)
		}
	}
}

// TestTooLarge asks for more than the cluster has: refused at submit, or
// accepted-with-errors and then refused by Poll, both with a clear reason.
func TestTooLarge(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	prefix := uniquePrefix("big")
	d := newTestDriver(t, c.options(prefix))
	ctx := context.Background()
	_, err := d.Start(ctx, shJob(1, "true", 1, 9))
	if err == nil || !strings.Contains(err.Error(), "Requested node configuration is not available") {
		t.Errorf("9 GPUs on one node: %v, want Slurm's refusal", err)
	}
	h, err := d.Start(ctx, shJob(2, "true", 9, 1))
	if err != nil {
		t.Fatalf("9 nodes: %v (22.05 accepts it with errors)", err)
	}
	col := newCollector(d)
	col.waitEnds(t, []core.JobID{2}, 20*time.Second)
	u := col.ends[2]
	if u.State != core.StateFailed || !strings.Contains(u.Reason, "refused by Slurm: Requested partition configuration not available") || u.Handle != h {
		t.Errorf("9 nodes ended %s (%q) handle %s", u.State, u.Reason, u.Handle)
	}
	// And it no longer waits in Slurm's queue.
	time.Sleep(time.Second)
	for _, j := range slurmJobs(t, c) {
		if tg, ok := parseTag(prefix, j.Comment); ok && tg.ID == 2 && j.State == "PENDING" {
			t.Errorf("refused job %d still pending in Slurm", j.ID)
		}
	}
}

// TestRestartReconcile starts jobs, loses the driver, and lets a new one
// adopt them by tag, including one whose handle was never recorded; a
// repeated Start of the same attempt returns the same job.
func TestRestartReconcile(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	prefix := uniquePrefix("adopt")
	ctx := context.Background()
	d1 := newTestDriver(t, c.options(prefix))
	var jobs []core.Job
	for i := range 4 {
		j := shJob(core.JobID(i+1), "sleep 300", 1, 1)
		h, err := d1.Start(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		j.Handle = h
		jobs = append(jobs, j)
	}
	quick := shJob(5, "exit 7", 1, 1)
	var err error
	if quick.Handle, err = d1.Start(ctx, quick); err != nil {
		t.Fatal(err)
	}
	col := newCollector(d1)
	col.waitRunning(t, 1, 30*time.Second)
	// The quick one ends unobserved (d1 stops polling).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if j := slurmJob(t, c, quick.Handle); j.State == "FAILED" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("quick job still %s after 30 s", j.State)
		}
	}
	d1.Close()

	d2 := newTestDriver(t, c.options(prefix))
	lostHandle := jobs[3]
	lostHandle.Handle = "" // crashed between submit and recording it
	never := shJob(6, "true", 1, 1)
	us, err := d2.Adopt(ctx, []core.Job{jobs[0], jobs[1], jobs[2], lostHandle, quick, never})
	if err != nil {
		t.Fatal(err)
	}
	got := map[core.JobID]driver.Update{}
	for _, u := range us {
		got[u.JobID] = u
		if u.Time.After(time.Now().Add(5 * time.Second)) {
			t.Errorf("adopt %d: time %v is in the future (a pending job's start_time is an estimate)", u.JobID, u.Time)
		}
	}
	for _, j := range jobs {
		if u := got[j.ID]; u.State != core.StateRunning || u.Handle != j.Handle {
			t.Errorf("adopt %d: %s handle %q, want running %q", j.ID, u.State, u.Handle, j.Handle)
		}
	}
	if u := got[5]; u.State != core.StateFailed || u.ExitCode == nil || *u.ExitCode != 7 {
		t.Errorf("adopt of the ended job: %+v", u)
	}
	if u := got[6]; u.State != core.StateFailed || u.Reason != "controller restarted" {
		t.Errorf("adopt of a job never submitted: %+v", u)
	}
	// Start again after the crash: same job, no second submission.
	h, err := d2.Start(ctx, jobs[3])
	if err != nil || h != jobs[3].Handle {
		t.Errorf("restart of job 4 = %q, %v; want the existing %q", h, err, jobs[3].Handle)
	}
	d3 := newTestDriver(t, c.options(prefix)) // a fresh instance, no Adopt
	if h, err := d3.Start(ctx, jobs[2]); err != nil || h != jobs[2].Handle {
		t.Errorf("Start on a fresh driver = %q, %v; want the existing %q", h, err, jobs[2].Handle)
	}
	for _, j := range jobs {
		if err := d2.Cancel(ctx, j); err != nil {
			t.Error(err)
		}
	}
	col2 := newCollector(d2)
	col2.waitEnds(t, []core.JobID{1, 2, 3, 4}, 30*time.Second)
	for tg, n := range tagCount(t, c, prefix) {
		if n != 1 {
			t.Errorf("tag %v: %d Slurm jobs, want exactly 1", tg, n)
		}
	}
}

// TestRestdOutage stops slurmrestd for 30 s while jobs run and end: polls
// fail meanwhile, nothing is lost, and the states catch up.
func TestRestdOutage(t *testing.T) {
	c := testCluster(t)
	if os.Getuid() != 0 {
		t.Skip("stopping slurmrestd needs root")
	}
	prefix := uniquePrefix("outage")
	opts := c.options(prefix)
	opts.Retries = 1
	d := newTestDriver(t, opts)
	ctx := context.Background()
	var ids []core.JobID
	for i := range 6 {
		id := core.JobID(i + 1)
		if _, err := d.Start(ctx, shJob(id, fmt.Sprintf("sleep %d; exit %d", 3+3*i, i), 1, 1)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	col := newCollector(d)
	col.waitRunning(t, 1, 30*time.Second)
	script(t, "stop.sh", "--only", "slurmrestd")
	restarted := false
	defer func() {
		if !restarted {
			script(t, "start.sh")
		}
	}()
	down := time.Now()
	failed := 0
	for time.Since(down) < 30*time.Second {
		if err := col.poll(t); err != nil {
			failed++
		}
		time.Sleep(time.Second)
	}
	if failed == 0 {
		t.Error("every poll succeeded while slurmrestd was down")
	}
	// A submit during the outage fails cleanly, and after it nothing is
	// duplicated.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := d.Start(sctx, shJob(7, "exit 0", 1, 1)); err == nil {
		t.Error("Start succeeded while slurmrestd was down")
	}
	cancel()
	script(t, "start.sh")
	restarted = true
	if _, err := d.Start(ctx, shJob(7, "exit 0", 1, 1)); err != nil {
		t.Fatal(err)
	}
	col.waitEnds(t, append(ids, 7), 60*time.Second)
	for i, id := range ids {
		u := col.ends[id]
		if u.ExitCode == nil || *u.ExitCode != i {
			t.Errorf("job %d: %+v, want exit %d", id, u, i)
		}
	}
	for tg, n := range tagCount(t, c, prefix) {
		if n != 1 {
			t.Errorf("tag %v: %d Slurm jobs", tg, n)
		}
	}
}

// TestVersionAndPools negotiates the API and reads the test cluster's
// inventory.
func TestVersionAndPools(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	d := newTestDriver(t, c.options(uniquePrefix("inv")))
	ctx := context.Background()
	v, err := d.Version(ctx)
	if err != nil || v != "v0.0.38" {
		t.Fatalf("Version = %q, %v", v, err)
	}
	pools, err := d.Pools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "gpu h100 4x4 cpus=16 mem=64000; small a100 1x2 cpus=8 mem=32000; "
	var got string
	for _, p := range pools {
		got += fmt.Sprintf("%s %s %dx%d cpus=%d mem=%d; ", p.Name, p.Model, p.Nodes, p.AccelPerNode, p.CPUsPerNode, p.MemMiBPerNode)
	}
	if got != want {
		t.Errorf("pools = %s\nwant    %s", got, want)
	}
	// A job placed on pool "small" goes to that partition with its GPU type.
	job := shJob(1, `[ "$SLURM_JOB_PARTITION" = small ] || exit 5; exit 0`, 1, 2)
	job.Alloc.Pool = "small"
	if _, err := d.Start(ctx, job); err != nil {
		t.Fatal(err)
	}
	col := newCollector(d)
	col.waitEnds(t, []core.JobID{1}, 30*time.Second)
	if u := col.ends[1]; u.State != core.StateCompleted {
		t.Errorf("job on pool small: %s (%s)", u.State, u.Reason)
	}
}

// logBuffer collects every log line at debug level.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func debugLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestPerJobPolling follows jobs one request each, as on a busy cluster
// where listing every job is too dear.
func TestPerJobPolling(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	d := newTestDriver(t, c.options(uniquePrefix("perjob")))
	d.perJobMin = -1 << 20 // always
	ctx := context.Background()
	long := shJob(3, "sleep 300", 1, 1)
	for _, j := range []core.Job{shJob(1, "exit 0", 1, 1), shJob(2, "sleep 1; exit 2", 2, 1), long} {
		h, err := d.Start(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		if j.ID == 3 {
			long.Handle = h
		}
	}
	col := newCollector(d)
	col.waitRunning(t, 3, 30*time.Second)
	if err := d.Cancel(ctx, long); err != nil {
		t.Fatal(err)
	}
	col.waitEnds(t, []core.JobID{1, 2, 3}, 60*time.Second)
	want := map[core.JobID]string{1: "completed 0", 2: "failed 2", 3: "cancelled"}
	for id, w := range want {
		u := col.ends[id]
		got := string(u.State)
		if u.ExitCode != nil && u.State != core.StateCancelled {
			got += fmt.Sprintf(" %d", *u.ExitCode)
		}
		if got != w {
			t.Errorf("job %d: %s (%s), want %s", id, got, u.Reason, w)
		}
	}
}
