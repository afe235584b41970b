package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
	"github.com/gigafactory/gigafactory/internal/testutil"
)

var simSite = core.Site{ID: "sim", Kind: core.SiteLocal, Country: "LU", Driver: "sim", State: core.SiteActive,
	Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 4, Nodes: 2}}}

// elected is one controller of several sharing a store.
type elected struct {
	id   string
	d    *Daemon
	drv  *countingSim
	log  *testutil.SyncBuffer
	stop func()
}

// countingSim is the sim driver counting the starts and cancels it is
// asked for.
type countingSim struct {
	*sim.Driver
	starts, cancels atomic.Int32
}

func (c *countingSim) Start(ctx context.Context, j core.Job) (string, error) {
	c.starts.Add(1)
	return c.Driver.Start(ctx, j)
}

func (c *countingSim) Cancel(ctx context.Context, j core.Job) error {
	c.cancels.Add(1)
	return c.Driver.Cancel(ctx, j)
}

func startElected(t *testing.T, dsn, id string) *elected {
	t.Helper()
	return startElectedWith(t, dsn, Leadership{ID: id, Address: "http://" + id, Lease: 600 * time.Millisecond, Renew: 100 * time.Millisecond, PickUp: 50 * time.Millisecond})
}

func startElectedWith(t *testing.T, dsn string, l Leadership) *elected {
	t.Helper()
	return startElectedOpts(t, dsn, l, nil)
}

// startElectedOpts is startElectedWith with the daemon's options changed
// by opt (when not nil) before it is made.
func startElectedOpts(t *testing.T, dsn string, l Leadership, opt func(*Options)) *elected {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	drv := &countingSim{Driver: sim.New(time.Now)}
	logs := &testutil.SyncBuffer{}
	o := Options{Store: st, Sites: []core.Site{simSite}, Drivers: map[string]driver.Driver{"sim": drv},
		Engine: engine.DefaultConfig(), PollEvery: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if opt != nil {
		opt(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.RunElected(ctx, l) }()
	e := &elected{id: l.ID, d: d, drv: drv, log: logs}
	var once bool
	e.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunElected(%s): %v", l.ID, err)
		}
		st.Close()
	}
	t.Cleanup(e.stop)
	return e
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func simJob(name string, dur string) core.Job {
	return core.Job{Name: name, User: "ada", Project: "p", Org: "o", Spec: core.JobSpec{
		Name: name, Project: "p", Command: []string{"true"}, Accelerators: 4, Model: "virtual",
		Walltime: core.Duration(time.Hour), Env: map[string]string{"GF_SIM_DURATION": dur}}}
}

func TestElectedControllers(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gf.db")
	a := startElected(t, dsn, "a")
	waitFor(t, "a to lead", func() bool { return a.d.Ready() && a.d.Leading() })
	b := startElected(t, dsn, "b")
	waitFor(t, "b to follow", b.d.Ready)
	if b.d.Leading() {
		t.Fatal("b leads beside a")
	}
	ctx := context.Background()

	// b follows: the scheduler's calls are refused, submissions are
	// durable and the leader runs them.
	if _, err := b.d.Explain(ctx, 1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower's Explain: err %v, want ErrNotLeader", err)
	}
	long, _, err := b.d.Submit(ctx, []core.Job{simJob("long", "1h"), simJob("long", "1h")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to run the jobs submitted to the follower", func() bool {
		for _, l := range long {
			if j, err := b.d.Store().GetJob(ctx, l.ID); err != nil || j.State != core.StateRunning {
				return false
			}
		}
		return true
	})
	// Both nodes are full: the next job waits, and the follower cancels it.
	queued, _, err := b.d.Submit(ctx, []core.Job{simJob("queued", "1m")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.d.Cancel(ctx, queued[0].ID, "ada")
	if err != nil || got.State != core.StateCancelled {
		t.Fatalf("follower cancels a pending job: %v, %v", got.State, err)
	}
	if _, err := b.d.Cancel(ctx, long[0].ID, "ada"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower cancels a running job: err %v, want ErrNotLeader", err)
	}
	j, _ := a.d.Store().GetJob(ctx, long[0].ID)
	evs, _ := a.d.Store().JobEvents(ctx, long[0].ID)
	placedByA := false
	for _, e := range evs {
		if e.Type == "placed" && strings.Contains(e.Message, "by controller a, epoch 1") {
			placedByA = true
		}
	}
	if !placedByA {
		t.Fatalf("job %d (%s) has no placement by a in epoch 1: %+v", j.ID, j.State, evs)
	}

	// A site drained and resumed through the follower: the leader reads
	// it from the store.
	for _, state := range []string{core.SiteDraining, core.SiteActive} {
		if _, err := b.d.SetSiteState(ctx, "sim", state); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the leader to see the site "+state, func() bool { return a.d.Sites()[0].State == state })
	}

	// a stops: b takes over, finds the run lost (its sim site forgot it)
	// and runs what follows.
	a.stop()
	waitFor(t, "b to lead", b.d.Leading)
	next, _, err := b.d.Submit(ctx, []core.Job{simJob("next", "10ms")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new leader to run a job to its end", func() bool {
		j, err := b.d.Store().GetJob(ctx, next[0].ID)
		return err == nil && j.State == core.StateCompleted
	})
	lost, _ := b.d.Store().GetJob(ctx, long[0].ID)
	if lost.State != core.StateFailed || lost.Reason != ReasonRestarted {
		t.Fatalf("the old leader's run after failover: %s %q, want failed %q", lost.State, lost.Reason, ReasonRestarted)
	}
	cs, err := b.d.Store().Controllers(ctx)
	if err != nil || len(cs) != 1 || cs[0].ID != "b" || !cs[0].Leader {
		t.Fatalf("Controllers = %+v, %v; want b leading, alone (a stopped cleanly)", cs, err)
	}
}

// TestDeposedLeaderIsFenced: a leader whose lease another controller took
// behind its back (as after a pause longer than the lease), and which has
// not noticed yet, can neither place and start a job nor cancel a running
// one: its writes and its site actions are refused by the fence.
func TestDeposedLeaderIsFenced(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gf.db")
	// Renewals far apart: a does not notice the takeover by itself.
	a := startElectedWith(t, dsn, Leadership{ID: "a", Lease: time.Hour, Renew: 30 * time.Minute, PickUp: time.Hour})
	waitFor(t, "a to lead", func() bool { return a.d.Ready() && a.d.Leading() })
	ctx := context.Background()
	first, _, err := a.d.Submit(ctx, []core.Job{simJob("first", "1h")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to run the first job", func() bool {
		j, err := a.d.Store().GetJob(ctx, first[0].ID)
		return err == nil && j.State == core.StateRunning
	})

	// z takes the lease over.
	other, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if epoch, err := other.AcquireLease(ctx, "z", time.Hour, true); err != nil || epoch != 2 {
		t.Fatalf("z takes the lease: epoch %d, %v; want 2", epoch, err)
	}

	// a still thinks it leads: a second job fits the free node, but its
	// placement is refused and nothing starts.
	second, _, err := a.d.Submit(ctx, []core.Job{simJob("second", "1h")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's placement to be fenced", func() bool { return strings.Contains(a.log.String(), "fenced") })
	if j, _ := other.GetJob(ctx, second[0].ID); j.State != core.StatePending || j.Alloc != nil {
		t.Fatalf("second job after a's fenced placement: %s %+v, want pending with no allocation", j.State, j.Alloc)
	}
	if n := a.drv.starts.Load(); n != 1 {
		t.Fatalf("a's driver was asked for %d starts, want 1 (the first job only)", n)
	}
	// Nor can it stop the running job.
	if _, err := a.d.Cancel(ctx, first[0].ID, "ada"); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("deposed leader's cancel of a running job: err %v, want ErrFenced", err)
	}
	if n := a.drv.cancels.Load(); n != 0 {
		t.Fatalf("a's driver was asked for %d cancels, want 0", n)
	}
	if j, _ := other.GetJob(ctx, first[0].ID); j.State != core.StateRunning {
		t.Fatalf("first job after a's fenced cancel: %s, want running", j.State)
	}
}
