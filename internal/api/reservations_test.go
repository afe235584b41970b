package api

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// twoNodes is a local site of two nodes of two accelerators.
func twoNodes(id string) core.Site {
	return core.Site{ID: id, Name: "test", Kind: core.SiteLocal, Country: "LU", Driver: "local", State: core.SiteActive,
		Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 2, Nodes: 2, CPUsPerNode: 8}}}
}

// Who may book and delete a reservation, and each bad field named.
func TestReservationsCreate(t *testing.T) {
	ts := newTestServer(t, []core.Site{twoNodes("local"), twoNodes("other")})
	var opu userWithToken
	if code := ts.do(t, ts.admin, "POST", "/api/v1/users", map[string]any{"name": "op", "role": "operator", "sites": []string{"local"}}, &opu); code != 201 {
		t.Fatalf("create operator: %d", code)
	}
	op := opu.Token
	alloc := ts.userToken(t, "alloc", "", core.RoleAllocator)
	ada := ts.userToken(t, "ada", "acme", core.RoleUser)
	ok := func(m map[string]any) map[string]any {
		out := map[string]any{"site": "local", "accelerators": 2, "start": "now+1hour", "duration": "60", "projects": []string{"rocket"}}
		for k, v := range m {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name  string
		token string
		body  map[string]any
		want  int
		field string
	}{
		{"operator of the site", op, ok(map[string]any{"name": "op-moon"}), 201, ""},
		{"allocator", alloc, ok(map[string]any{"name": "alloc-moon", "start": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)}), 201, ""},
		{"admin, a generated id", ts.admin, ok(map[string]any{"accelerators": 1, "site": "other"}), 201, ""},
		{"admin, the same start: a second generated id", ts.admin, ok(map[string]any{"accelerators": 1, "site": "other"}), 201, ""},
		// op-moon and alloc-moon hold both nodes of local over this
		// window: refused, not booked without nodes.
		{"the window's nodes all reserved", ts.admin, ok(map[string]any{"start": "now+90minutes"}), 422, "accelerators"},
		{"operator of another site", op, ok(map[string]any{"site": "other"}), 403, ""},
		{"a user", ada, ok(nil), 403, ""},
		{"the id taken", ts.admin, ok(map[string]any{"name": "op-moon"}), 409, ""},
		{"no site", ts.admin, ok(map[string]any{"site": nil}), 422, "site"},
		{"unknown site", ts.admin, ok(map[string]any{"site": "mars"}), 422, "site"},
		{"unknown model", ts.admin, ok(map[string]any{"model": "b200"}), 422, "model"},
		{"no accelerators", ts.admin, ok(map[string]any{"accelerators": 0}), 422, "accelerators"},
		{"more than the site holds", ts.admin, ok(map[string]any{"accelerators": 5}), 422, "accelerators"},
		{"no start", ts.admin, ok(map[string]any{"start": nil}), 422, "start"},
		{"bad start", ts.admin, ok(map[string]any{"start": "someday"}), 422, "start"},
		{"start in the past", ts.admin, ok(map[string]any{"start": "2020-01-01T00:00:00Z"}), 422, "start"},
		{"no duration", ts.admin, ok(map[string]any{"duration": nil}), 422, "duration"},
		{"bad duration", ts.admin, ok(map[string]any{"duration": "forever"}), 422, "duration"},
		{"unknown project", ts.admin, ok(map[string]any{"projects": []string{"nope"}}), 422, "projects"},
		{"bad name", ts.admin, ok(map[string]any{"name": "a b"}), 422, "name"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r core.Reservation
			var p Problem
			var dst any = &r
			if tc.want != 201 {
				dst = &p
			}
			got := ts.do(t, tc.token, "POST", "/api/v1/reservations", tc.body, dst)
			expect(t, tc.name, got, tc.want, p, tc.field)
			if tc.want != 201 {
				return
			}
			if r.ID == "" || r.Site != tc.body["site"] || r.Accelerators != tc.body["accelerators"] || r.End.Sub(r.Start) != time.Hour {
				t.Errorf("created %+v: want an id, site %v, %v accelerators, an hour", r, tc.body["site"], tc.body["accelerators"])
			}
			// Each takes a node of its own (the engine sets them aside
			// from now on, ahead of their windows).
			if r.State != core.ReservationDraining || len(r.Nodes) != 1 || r.Problem != "" {
				t.Errorf("created %+v: want it draining one node", r)
			}
			if i >= 2 && !strings.HasPrefix(r.ID, "other-") {
				t.Errorf("created %+v: want a generated id", r)
			}
		})
	}
	entries, err := ts.st.FindAudit(context.Background(), store.AuditFilter{Action: "reservation.create"})
	if err != nil || len(entries) != 4 {
		t.Errorf("reservation.create audit entries %d (%v), want one per reservation made (4)", len(entries), err)
	}
}

// Who sees which reservation; who may delete; a job naming another
// project's reservation is refused; a reservation survives a restart.
func TestReservationsVisibilityAndUse(t *testing.T) {
	ts := newTestServer(t, []core.Site{twoNodes("local")})
	ctx := context.Background()
	ada := ts.userToken(t, "ada", "acme", core.RoleUser)    // rocket's organisation
	bob := ts.userToken(t, "bob", "default", core.RoleUser) // default's
	for _, b := range []map[string]any{
		{"name": "moon", "site": "local", "accelerators": 2, "start": "now+1hour", "duration": "2:00:00", "projects": []string{"rocket"}},
		{"name": "maint", "site": "local", "accelerators": 4, "start": "now+3hours", "duration": "30"},
	} {
		if code := ts.do(t, ts.admin, "POST", "/api/v1/reservations", b, nil); code != 201 {
			t.Fatalf("create %v: %d", b["name"], code)
		}
	}
	for _, tc := range []struct {
		who   string
		token string
		want  []string
	}{{"admin", ts.admin, []string{"moon", "maint"}}, {"ada", ada, []string{"moon", "maint"}}, {"bob", bob, []string{"maint"}}} {
		var l list[core.Reservation]
		if code := ts.do(t, tc.token, "GET", "/api/v1/reservations", nil, &l); code != 200 {
			t.Fatalf("%s lists: %d", tc.who, code)
		}
		var ids []string
		for _, r := range l.Items {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s sees %v, want %v", tc.who, ids, tc.want)
		}
	}
	var p Problem
	expect(t, "bob gets moon", ts.do(t, bob, "GET", "/api/v1/reservations/moon", nil, &p), 404, p, "")
	expect(t, "ada deletes moon", ts.do(t, ada, "DELETE", "/api/v1/reservations/moon", nil, &p), 403, p, "")
	// Submissions naming it: another project's job is refused, naming the
	// field; rocket's is pinned to the reservation's site and waits for
	// the window, saying so.
	expect(t, "bob's job naming moon", ts.do(t, bob, "POST", "/api/v1/jobs", `{"command":["true"],"project":"default","accelerators":2,"reservation":"moon"}`, &p), 422, p, "reservation")
	var j core.Job
	if code := ts.do(t, ada, "POST", "/api/v1/jobs", `{"command":["true"],"project":"rocket","accelerators":2,"walltime":"10m","reservation":"moon"}`, &j); code != 201 {
		t.Fatalf("ada's job naming moon: %d", code)
	}
	if j.Spec.Site != "local" {
		t.Errorf("job naming moon pinned to %q, want the reservation's site", j.Spec.Site)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ex explainAnswer
		ts.do(t, ada, "GET", fmt.Sprintf("/api/v1/jobs/%d/explain", j.ID), nil, &ex)
		if ex.Status != nil && strings.HasPrefix(ex.Status.Reason, "Reservation: waiting for the window of moon") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("explain %+v: want the reason Reservation, waiting for moon's window", ex.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second daemon on the same store (a restart) holds the reservation.
	d2, err := daemon.New(daemon.Options{Store: ts.st, Sites: []core.Site{twoNodes("local")}, Drivers: map[string]driver.Driver{"local": mustLocal(t)},
		PollEvery: 20 * time.Millisecond, Engine: engine.DefaultConfig()})
	must(t, err)
	must(t, d2.Recover(ctx))
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d2.Run(lctx) }()
	states, err := d2.ReservationStates(ctx)
	cancel()
	<-done
	must(t, err)
	if st, ok := states["moon"]; !ok || len(st.Nodes) != 1 {
		t.Errorf("after a restart, the engine holds %+v, want moon on one node", states)
	}
	var r core.Reservation
	if code := ts.do(t, ts.admin, "DELETE", "/api/v1/reservations/moon", nil, &r); code != 200 || r.ID != "moon" {
		t.Fatalf("admin deletes moon: %d %+v", code, r)
	}
	expect(t, "moon again", ts.do(t, ts.admin, "GET", "/api/v1/reservations/moon", nil, &p), 404, p, "")
	if entries, err := ts.st.FindAudit(ctx, store.AuditFilter{Action: "reservation.delete"}); err != nil || len(entries) != 1 || entries[0].Actor != "admin" {
		t.Errorf("reservation.delete entries %+v (%v), want admin's one", entries, err)
	}
}

func mustLocal(t *testing.T) driver.Driver {
	ld, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), "local")})
	must(t, err)
	t.Cleanup(func() { _ = ld.Close() })
	return ld
}

// The scenario of issue 17 on a busy local site: a reservation booked a
// few seconds ahead keeps the site's other jobs off its node (their
// walltime crosses its start), and the job that names it starts when its
// window opens, on its node.
func TestReservationScenario(t *testing.T) {
	ts := newTestServer(t, []core.Site{twoNodes("local")})
	start := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second)
	var moon core.Reservation
	if code := ts.do(t, ts.admin, "POST", "/api/v1/reservations", map[string]any{"name": "moon", "site": "local", "accelerators": 2,
		"start": start.Format(time.RFC3339), "duration": "2", "projects": []string{"default"}}, &moon); code != 201 || len(moon.Nodes) != 1 {
		t.Fatalf("book moon: %d %+v", code, moon)
	}
	var fillers []core.JobID
	for range 3 {
		var j core.Job
		if code := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["sleep","60"],"project":"default","accelerators":2,"walltime":"10m"}`, &j); code != 201 {
			t.Fatalf("filler: %d", code)
		}
		fillers = append(fillers, j.ID)
	}
	var mj core.Job
	if code := ts.do(t, ts.admin, "POST", "/api/v1/jobs", `{"command":["true"],"project":"default","accelerators":2,"walltime":"1m","reservation":"moon"}`, &mj); code != 201 {
		t.Fatalf("moonshot: %d", code)
	}
	t.Cleanup(func() {
		for _, id := range fillers {
			ts.do(t, ts.admin, "DELETE", fmt.Sprintf("/api/v1/jobs/%d", id), nil, nil)
		}
	})
	// Ahead of the window: one filler runs, on the other node; the
	// reserved node takes none of them.
	first := ts.waitState(t, fillers[0], func(s core.State) bool { return s.Active() })
	if first.Alloc == nil || first.Alloc.Nodes[0].Node == moon.Nodes[0] {
		t.Fatalf("filler %d on %+v, want the node moon does not hold", first.ID, first.Alloc)
	}
	ran := ts.waitState(t, mj.ID, func(s core.State) bool { return s == core.StateRunning || s.Terminal() })
	if ran.StartTime == nil || ran.StartTime.Before(start) || ran.StartTime.After(start.Add(5*time.Second)) {
		t.Errorf("moonshot started at %v, want at the window's start %v", ran.StartTime, start)
	}
	if ran.Alloc == nil || ran.Alloc.Nodes[0].Node != moon.Nodes[0] {
		t.Errorf("moonshot on %+v, want moon's node %s", ran.Alloc, moon.Nodes[0])
	}
	for _, id := range fillers[1:] {
		var j core.Job
		ts.do(t, ts.admin, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
		if j.State != core.StatePending {
			t.Errorf("filler %d is %s on %+v: want pending, off moon's node", id, j.State, j.Alloc)
		}
	}
}
