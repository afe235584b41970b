package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// flaky wraps the real local driver and injects failures: Start and Adopt
// fail as if the site's API were down while failStarts / failAdopts > 0.
type flaky struct {
	*local.Driver
	failStarts atomic.Int32
	failAdopts atomic.Int32
	starts     atomic.Int32
	lastWall   atomic.Int64 // the walltime of the job last given to Start
}

func (f *flaky) Start(ctx context.Context, j core.Job) (string, error) {
	f.starts.Add(1)
	f.lastWall.Store(int64(j.Spec.Walltime))
	if f.failStarts.Add(-1) >= 0 {
		return "", fmt.Errorf("submit: %w", driver.ErrUnavailable)
	}
	return f.Driver.Start(ctx, j)
}

func (f *flaky) Adopt(ctx context.Context, jobs []core.Job) ([]driver.Update, error) {
	if f.failAdopts.Add(-1) >= 0 {
		return nil, fmt.Errorf("list jobs: %w", driver.ErrUnavailable)
	}
	return f.Driver.Adopt(ctx, jobs)
}

var site = core.Site{ID: "local", Kind: core.SiteLocal, Country: "LU", Driver: "local", State: core.SiteActive,
	Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 4, Nodes: 1}}}

type harness struct {
	st   *store.DB
	drv  *flaky
	d    *Daemon
	stop func()
}

func start(t *testing.T, dir string, drv *flaky) *harness {
	t.Helper()
	return startWith(t, dir, drv, nil)
}

// startWith is start with the options edited by edit (when not nil).
func startWith(t *testing.T, dir string, drv *flaky, edit func(*Options)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	if drv == nil {
		ld, err := local.New(local.Options{Dir: filepath.Join(dir, "local"), KillGrace: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		drv = &flaky{Driver: ld}
	}
	o := Options{Store: st, Sites: []core.Site{site}, Drivers: map[string]driver.Driver{"local": drv}, Engine: engine.DefaultConfig(), PollEvery: 20 * time.Millisecond}
	if edit != nil {
		edit(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(runCtx) }()
	h := &harness{st: st, drv: drv, d: d}
	h.stop = func() { cancel(); <-done; _ = st.Close(); _ = drv.Close() }
	t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
		}
	})
	return h
}

func (h *harness) wait(t *testing.T, id core.JobID, ok func(core.Job) bool) core.Job {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		j, err := h.st.GetJob(context.Background(), id)
		if err == nil && ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d stuck: %s %q", id, j.State, j.Reason)
		}
	}
}

// A start that fails because the site is unreachable does not fail the
// job: it waits with a reason, the site is backed off, and the job starts
// once the site answers, as the same attempt.
func TestTransientStartFailureRetries(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	h.drv.failStarts.Store(2)
	jobs, _, err := h.d.Submit(context.Background(), []core.Job{{Project: "p", User: "u", Spec: core.JobSpec{Command: []string{"true"}, Accelerators: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	j := h.wait(t, jobs[0].ID, func(j core.Job) bool { return j.State.Terminal() })
	if j.State != core.StateCompleted || j.Attempt != 0 {
		t.Fatalf("job ended %s attempt %d (%s), want completed attempt 0", j.State, j.Attempt, j.Reason)
	}
	if got := h.drv.starts.Load(); got != 3 {
		t.Errorf("%d starts, want 3 (two refused, one run)", got)
	}
	evs, _ := h.st.JobEvents(context.Background(), j.ID)
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s:%s ", e.Type, e.Message)
	}
	if !strings.Contains(b.String(), "unreachable") {
		t.Errorf("events do not say the site was unreachable: %s", b.String())
	}
}

// After a restart whose adoption fails (the site does not answer), the
// running job is neither lost nor started again: adoption is retried and
// the job ends with its real exit code.
func TestAdoptionRetriedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, nil)
	jobs, _, err := h.d.Submit(context.Background(), []core.Job{{Project: "p", User: "u", Spec: core.JobSpec{Command: []string{"sh", "-c", "sleep 1; exit 5"}, Accelerators: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	id := jobs[0].ID
	h.wait(t, id, func(j core.Job) bool { return j.State == core.StateRunning })
	h.stop()
	h.stop = nil
	_ = h.drv.Close()

	ld, err := local.New(local.Options{Dir: filepath.Join(dir, "local"), KillGrace: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	drv := &flaky{Driver: ld}
	drv.failAdopts.Store(1)
	h2 := start(t, dir, drv)
	if got, _ := h2.st.GetJob(context.Background(), id); got.State != core.StateRunning {
		t.Fatalf("after a failed adoption the job is %s (%s), want still running", got.State, got.Reason)
	}
	j := h2.wait(t, id, func(j core.Job) bool { return j.State.Terminal() })
	if j.State != core.StateFailed || j.ExitCode == nil || *j.ExitCode != 5 || j.Attempt != 0 {
		t.Fatalf("job ended %s exit %v attempt %d (%s), want failed exit 5 attempt 0", j.State, j.ExitCode, j.Attempt, j.Reason)
	}
	if drv.starts.Load() != 0 {
		t.Errorf("the job was started again after the restart")
	}
}
