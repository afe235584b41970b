package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

func TestLeaseElectionAndFencing(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const long = time.Minute

		a, err := db.AcquireLease(ctx, "a", long, false)
		if err != nil || a != 1 {
			t.Fatalf("a acquires a free lease: epoch %d, err %v; want 1", a, err)
		}
		if b, err := db.AcquireLease(ctx, "b", long, false); err != nil || b != 0 {
			t.Fatalf("b acquires a's current lease: epoch %d, err %v; want 0", b, err)
		}
		if ok, err := db.RenewLease(ctx, "b", a, long); err != nil || ok {
			t.Fatalf("b renews a's lease: %v, %v; want false", ok, err)
		}
		if ok, err := db.RenewLease(ctx, "a", a, long); err != nil || !ok {
			t.Fatalf("a renews its lease: %v, %v; want true", ok, err)
		}

		// a's fenced writes pass while it leads.
		j := submitOne(t, db, jobOf("lease", "ada", "p"))
		fenced := store.WithFence(ctx, a)
		j.Reason = "by a"
		if err := db.UpdateJob(fenced, j, core.Event{}); err != nil {
			t.Fatalf("leader's fenced write: %v", err)
		}

		// b takes over once a releases (as a lapsed lease would let it).
		if err := db.ReleaseLease(ctx, "a", a); err != nil {
			t.Fatal(err)
		}
		b, err := db.AcquireLease(ctx, "b", long, false)
		if err != nil || b != a+1 {
			t.Fatalf("b acquires a released lease: epoch %d, err %v; want %d", b, err, a+1)
		}

		// a, deposed, can neither write nor renew.
		j.Reason = "by deposed a"
		if err := db.UpdateJob(fenced, j, core.Event{Type: "note"}); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("deposed leader's write: err %v, want ErrFenced", err)
		}
		if err := db.CheckFence(fenced); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("deposed leader's CheckFence: err %v, want ErrFenced", err)
		}
		if got, _ := db.GetJob(ctx, j.ID); got.Reason != "by a" {
			t.Fatalf("job's reason after the fenced write = %q, want %q (unchanged)", got.Reason, "by a")
		}
		if ok, err := db.RenewLease(ctx, "a", a, long); err != nil || ok {
			t.Fatalf("deposed a renews: %v, %v; want false", ok, err)
		}
		if err := db.CheckFence(store.WithFence(ctx, b)); err != nil {
			t.Fatalf("new leader's CheckFence: %v", err)
		}

		// A lapsed lease goes to whoever asks; force takes a current one.
		if ok, err := db.RenewLease(ctx, "b", b, time.Microsecond); err != nil || !ok {
			t.Fatalf("b shortens its lease: %v, %v", ok, err)
		}
		time.Sleep(20 * time.Millisecond)
		c, err := db.AcquireLease(ctx, "c", long, false)
		if err != nil || c != b+1 {
			t.Fatalf("c acquires a lapsed lease: epoch %d, err %v; want %d", c, err, b+1)
		}
		d, err := db.AcquireLease(ctx, "d", long, true)
		if err != nil || d != c+1 {
			t.Fatalf("d forces the lease: epoch %d, err %v; want %d", d, err, c+1)
		}
		l, err := db.GetLease(ctx)
		if err != nil || l.Holder != "d" || l.Epoch != d || !l.Current() {
			t.Fatalf("GetLease = %+v, %v; want d's current lease of epoch %d", l, err, d)
		}
	})
}

func TestControllers(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, c := range []struct{ id, addr string }{{"b", "http://127.0.0.1:2"}, {"a", "http://127.0.0.1:1"}} {
			if err := db.Heartbeat(ctx, c.id, c.addr, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Heartbeat(ctx, "", "x", true); err == nil {
			t.Fatal("Heartbeat with an empty id: no error")
		}
		if _, err := db.AcquireLease(ctx, "b", time.Minute, false); err != nil {
			t.Fatal(err)
		}
		before, err := db.Controllers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if err := db.Heartbeat(ctx, "a", "http://127.0.0.1:3", false); err != nil {
			t.Fatal(err)
		}
		got, err := db.Controllers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
			t.Fatalf("Controllers = %+v, want a then b", got)
		}
		if got[0].Leader || !got[1].Leader {
			t.Fatalf("leaders: a %v, b %v; want only b", got[0].Leader, got[1].Leader)
		}
		if err := db.RemoveController(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if after, err := db.Controllers(ctx); err != nil || len(after) != 1 || after[0].ID != "a" {
			t.Fatalf("Controllers after b's removal = %+v, %v; want a alone", after, err)
		}
		if got[0].Address != "http://127.0.0.1:3" || !got[0].LastSeen.After(before[0].LastSeen) || !got[0].StartedAt.Equal(before[0].StartedAt) {
			t.Fatalf("a after a beat = %+v, before %+v: want the new address, a later last_seen and the same started_at", got[0], before[0])
		}
	})
}
