package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

var simSite = core.Site{ID: "sim", Kind: core.SiteLocal, Country: "LU", Driver: "sim", State: core.SiteActive,
	Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 4, Nodes: 1}}}

// elected is one controller of several sharing a store.
type elected struct {
	id   string
	d    *Daemon
	stop func()
}

func startElected(t *testing.T, dsn, id string) *elected {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Store: st, Sites: []core.Site{simSite}, Drivers: map[string]driver.Driver{"sim": sim.New(time.Now)},
		Engine: engine.DefaultConfig(), PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.RunElected(ctx, Leadership{ID: id, Address: "http://" + id, Lease: 600 * time.Millisecond, Renew: 100 * time.Millisecond, PickUp: 50 * time.Millisecond})
	}()
	e := &elected{id: id, d: d}
	var once bool
	e.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunElected(%s): %v", id, err)
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
	long, _, err := b.d.Submit(ctx, []core.Job{simJob("long", "1h")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to run a job submitted to the follower", func() bool {
		j, err := b.d.Store().GetJob(ctx, long[0].ID)
		return err == nil && j.State == core.StateRunning
	})
	// The node is full: the next job waits, and the follower cancels it.
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
	if err != nil || len(cs) != 2 || cs[0].Leader || !cs[1].Leader {
		t.Fatalf("Controllers = %+v, %v; want a following and b leading", cs, err)
	}
}
