package engine

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// A Named reservation (as the daemon books them) runs only the jobs that
// name it and are of its projects; they wait for its window with reason
// Reservation, and start at its start on its nodes.
func TestNamedReservation(t *testing.T) {
	e := New(Config{BackfillDepth: 4}, []core.Site{site("s", core.Pool{Name: "gpu", Model: "h100", Nodes: 4, AccelPerNode: 4, NodesPerBlock: 2})})
	start := t0.Add(time.Hour)
	e.Apply(Reservation{Name: "moon", Site: "s", Model: "h100", Accelerators: 8, Start: start, End: start.Add(time.Hour), Projects: []string{"m"}, Named: true})
	named := func(b *jobB) Submitted { return b.Obj2(func(j *core.Job) { j.Spec.Reservation = "moon" }) }
	e.Apply(named(mkjob(1, "8").Nodes(2).Project("o", "m").Walltime(time.Hour))) // the moonshot
	e.Apply(named(mkjob(2, "4").Project("o", "other").Walltime(time.Hour)))      // another project's
	e.Apply(mkjob(3, "4").Project("o", "m").Walltime(2 * time.Hour).Ev())        // the project's, not naming it
	e.Apply(mkjob(4, "4").Project("o", "x").Walltime(2 * time.Hour).Ev())        // anyone's
	e.Apply(mkjob(5, "4").Project("o", "x").Walltime(2 * time.Hour).Ev())        // anyone's: no room left
	in, next := e.Step(t0)
	got := starts(in)
	if len(got) != 2 || len(got[3]) != 1 || len(got[4]) != 1 {
		t.Fatalf("before the window, starts %v: want jobs 3 and 4 on the two free nodes", got)
	}
	if !next.Equal(start) {
		t.Errorf("next wake %v, want the window's start", next)
	}
	for id, want := range map[core.JobID]string{1: "Reservation: waiting for the window of moon", 2: "Reservation: moon is not for project other"} {
		if st, _ := e.Status(id); !strings.HasPrefix(st.Reason, want) {
			t.Errorf("job %d reason %q, want %q", id, st.Reason, want)
		}
	}
	if st, _ := e.Status(1); st.EstimatedStart == nil || !st.EstimatedStart.Equal(start) {
		t.Errorf("job 1 estimated start %v, want the window's start %v", st.EstimatedStart, start)
	}
	in, _ = e.Step(start)
	got = starts(in)
	if len(got) != 1 || len(got[1]) != 2 {
		t.Fatalf("at the window's start, starts %v: want only job 1, on the reservation's two nodes", got)
	}
	rs := e.Reservations()
	if len(rs) != 1 || !rs[0].Active {
		t.Fatalf("reservations %+v: want moon active", rs)
	}
	for _, n := range got[1] {
		if !slices.Contains(rs[0].Nodes, n.Node) {
			t.Errorf("job 1 on %s, outside the reservation's nodes %v", n.Node, rs[0].Nodes)
		}
	}
}

// A window booked right after another on the same nodes holds none while
// the first holds them (holds are not shared between windows), says so,
// and takes them when the first ends; its job starts at its start.
func TestReservationAfterAnotherGetsItsNodes(t *testing.T) {
	e := New(Config{BackfillDepth: 4}, []core.Site{site("s", core.Pool{Name: "gpu", Model: "h100", Nodes: 2, AccelPerNode: 4, NodesPerBlock: 2})})
	first, second := t0.Add(time.Hour), t0.Add(3*time.Hour)
	e.Apply(Reservation{Name: "moon", Site: "s", Accelerators: 8, Start: first, End: second, Projects: []string{"m"}, Named: true})
	e.Apply(Reservation{Name: "maint", Site: "s", Accelerators: 8, Start: second, End: second.Add(time.Hour), Projects: []string{"m"}, Named: true})
	e.Apply(mkjob(1, "8").Nodes(2).Project("o", "m").Walltime(30 * time.Minute).Obj2(func(j *core.Job) { j.Spec.Reservation = "maint" }))
	e.Step(t0)
	byName := func() map[string]ReservationStatus {
		out := map[string]ReservationStatus{}
		for _, r := range e.Reservations() {
			out[r.Name] = r
		}
		return out
	}
	if rs := byName(); len(rs["moon"].Nodes) != 2 || len(rs["maint"].Nodes) != 0 || rs["maint"].Problem == "" {
		t.Fatalf("before moon ends: %+v, want moon on both nodes and maint on none, saying why", rs)
	}
	if in, _ := e.Step(second.Add(-time.Minute)); len(starts(in)) != 0 {
		t.Fatalf("before maint's window: starts %v, want none", starts(in))
	}
	in, _ := e.Step(second)
	rs := byName()
	if _, ok := rs["moon"]; ok || len(rs["maint"].Nodes) != 2 || rs["maint"].Problem != "" || !rs["maint"].Active {
		t.Fatalf("at maint's start: %+v, want moon gone and maint active on both nodes", rs)
	}
	if got := starts(in); len(got[1]) != 2 {
		t.Errorf("at maint's start, starts %v: want job 1 on its two nodes", got)
	}
}
