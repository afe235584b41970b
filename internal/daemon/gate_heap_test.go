package daemon

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// Many held jobs wake in order at their times on a virtual clock; a job
// released (admitted, cancelled) before its time is never woken, and one
// whose wake time changed wakes at the new time only. The heap does not
// keep what left the gate until its time.
func TestGateWakesHeldJobsInOrder(t *testing.T) {
	base := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	const n = 5000
	cases := []struct {
		name    string
		release func(id core.JobID) bool // released before any wakes
		moved   func(id core.JobID) bool // held again, 30 min later
	}{
		{name: "all wake", release: func(core.JobID) bool { return false }, moved: func(core.JobID) bool { return false }},
		{name: "every third released", release: func(id core.JobID) bool { return id%3 == 0 }, moved: func(core.JobID) bool { return false }},
		{name: "most released", release: func(id core.JobID) bool { return id%10 != 0 }, moved: func(core.JobID) bool { return false }},
		{name: "some moved", release: func(id core.JobID) bool { return id%5 == 0 }, moved: func(id core.JobID) bool { return id%7 == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			rng := rand.New(rand.NewPCG(1, 2))
			want := map[core.JobID]time.Time{} // the wake each held job should get
			for _, k := range rng.Perm(n) {
				id := core.JobID(k + 1)
				at := base.Add(time.Duration(rng.IntN(3600)) * time.Second) // many share a second
				g.hold(core.Job{ID: id}, core.ReasonBeginTime, "", at)
				want[id] = at
			}
			for id := range want {
				switch {
				case tc.release(id):
					g.unhold(core.Job{ID: id})
					delete(want, id)
				case tc.moved(id):
					at := want[id].Add(30 * time.Minute)
					g.unhold(core.Job{ID: id})
					g.hold(core.Job{ID: id}, core.ReasonBeginTime, "", at)
					want[id] = at
				}
			}
			if got, most := g.wakes.Len(), 2*len(g.held)+64+1; got > most {
				t.Errorf("%d entries in the wake heap for %d held jobs, want at most %d", got, len(g.held), most)
			}
			woken := map[core.JobID]time.Time{}
			for now := base.Add(-time.Second); now.Before(base.Add(2 * time.Hour)); now = now.Add(10 * time.Second) {
				// What is due: every held job not yet woken whose time is not after now.
				var expect []core.JobID
				next := time.Time{}
				for id, at := range want {
					if _, done := woken[id]; done {
						continue
					}
					if !now.Before(at) {
						expect = append(expect, id)
					} else if next.IsZero() || at.Before(next) {
						next = at
					}
				}
				slices.Sort(expect)
				var got []core.JobID
				for _, j := range g.dueHeld(now) {
					got = append(got, j.ID)
					woken[j.ID] = now
					g.unhold(j) // admitted, as admit does once its time has come
				}
				if !slices.Equal(got, expect) {
					t.Fatalf("at %s: woke %d jobs %v..., want %d %v...", now.Format(time.TimeOnly), len(got), head(got), len(expect), head(expect))
				}
				if w := g.nextWake(); !w.Equal(next) {
					t.Fatalf("at %s: next wake %s, want %s", now.Format(time.TimeOnly), w, next)
				}
			}
			if len(woken) != len(want) {
				t.Errorf("%d jobs woken, want %d", len(woken), len(want))
			}
			for id, at := range woken {
				if at.Before(want[id]) {
					t.Errorf("job %d woken at %s, before its time %s", id, at, want[id])
				}
			}
			if g.wakes.Len() > 64 {
				t.Errorf("%d entries left in the wake heap with nothing held", g.wakes.Len())
			}
		})
	}
}

// Latest starts: a job is late only once now is after its latest start;
// one whose deadline the gate forgot (it started) is never late.
func TestGateDeadlinesInOrder(t *testing.T) {
	base := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	g := newGate()
	for i := range 1000 {
		id := core.JobID(1000 - i)
		g.setLatest(id, base.Add(time.Duration(int(id)%100)*time.Second))
	}
	for id := core.JobID(1); id <= 1000; id += 2 {
		delete(g.latest, id) // started: changed forgets its deadline
	}
	if w, want := g.nextWake(), base.Add(time.Millisecond); !w.Equal(want) {
		t.Fatalf("next wake %s, want %s", w, want)
	}
	if late := g.dueLate(base); len(late) != 0 {
		t.Fatalf("at the latest start itself %d jobs late, want none", len(late))
	}
	seen := 0
	for s := range 100 {
		late := g.dueLate(base.Add(time.Duration(s)*time.Second + time.Millisecond))
		for i, id := range late {
			if id%2 == 1 || int(id)%100 != s || (i > 0 && late[i-1] >= id) {
				t.Fatalf("second %d: late %v, want the even ids ≡ %d mod 100 in order", s, late, s)
			}
		}
		seen += len(late)
	}
	if seen != 500 || len(g.latest) != 0 || !g.nextWake().IsZero() {
		t.Errorf("%d late, %d deadlines left, next wake %s; want 500, 0, none", seen, len(g.latest), g.nextWake())
	}
}

// Through the daemon: of two jobs held for the same begin time, the one
// cancelled while held never runs; the other does, at its time.
func TestCancelledHeldJobIsNotWoken(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	keep := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Begin: "now+2"}))
	drop := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Begin: "now+2"}))
	if _, err := h.d.Cancel(context.Background(), drop, "test"); err != nil {
		t.Fatal(err)
	}
	if j := h.wait(t, keep, ended); j.State != core.StateCompleted {
		t.Errorf("held job: %s %q, want completed", j.State, j.Reason)
	}
	if j := h.wait(t, drop, ended); j.State != core.StateCancelled || j.StartTime != nil {
		t.Errorf("cancelled held job: %s, started %v, want cancelled, never started", j.State, j.StartTime)
	}
}

func head(ids []core.JobID) []core.JobID { return ids[:min(len(ids), 5)] }

// CancelMany cancels held jobs in one transaction and a running one at its
// site, answers an ended one as it is, audits each change, and leaves the
// gate holding none of them.
func TestCancelManyHeldAndRunning(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	ctx := context.Background()
	var ids []core.JobID
	for range 300 {
		ids = append(ids, h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Begin: "now+1hour"})))
	}
	done := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	h.wait(t, done, ended)
	run := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "30"}, Accelerators: 1000}))
	h.wait(t, run, func(j core.Job) bool { return j.State == core.StateRunning })
	ids = append(ids, done, run, ids[0]) // an id twice
	out, err := h.d.CancelMany(ctx, ids, "tester", func(id core.JobID) *store.AuditEntry {
		return &store.AuditEntry{Actor: "tester", Action: "job.cancel", Object: "job/" + id.String()}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(ids) {
		t.Fatalf("%d jobs answered for %d ids", len(out), len(ids))
	}
	for i, j := range out {
		if j.ID != ids[i] {
			t.Fatalf("answer %d is job %d, want %d", i, j.ID, ids[i])
		}
		switch j.ID {
		case done:
			if j.State != core.StateCompleted {
				t.Errorf("ended job answered %s, want completed", j.State)
			}
		case run:
		default:
			if j.State != core.StateCancelled || j.Reason != "cancelled by tester" {
				t.Errorf("held job %d: %s %q, want cancelled by tester", j.ID, j.State, j.Reason)
			}
			var held bool
			if err := h.d.do(ctx, func(context.Context) { _, held = h.d.gate.held[j.ID] }); err != nil { // the loop owns the gate
				t.Fatal(err)
			}
			if held {
				t.Errorf("held job %d still in the gate", j.ID)
			}
		}
	}
	if j := h.wait(t, run, ended); j.State != core.StateCancelled {
		t.Errorf("running job: %s, want cancelled", j.State)
	}
	entries, err := h.st.FindAudit(ctx, store.AuditFilter{Action: "job.cancel", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 301 { // the 300 held and the running one; not the ended one, not twice
		t.Errorf("%d cancel entries, want 301", len(entries))
	}
}
