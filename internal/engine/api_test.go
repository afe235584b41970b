package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

func TestExplainMatchesPriority(t *testing.T) {
	cfg := Config{PriorityInterval: time.Hour, Priority: sched.PriorityConfig{AgeWeight: 100, FairShareWeight: 1000, QoSWeight: 10, SizeWeight: 5}}
	e := New(cfg, []core.Site{site("s", pool("gpu", 1, 4))})
	e.Apply(mkjob(1, "4").Obj2(func(j *core.Job) { j.SubmitTime = t0.Add(-48 * time.Hour) }))
	e.Apply(mkjob(2, "4").QoS(core.QoSFastLane).Ev())
	e.Apply(mkjob(3, "2").Ev())
	e.Step(t0)
	for _, id := range []core.JobID{2, 3} {
		st, ok := e.Status(id)
		bd, ok2 := e.Explain(id)
		if !ok || !ok2 {
			t.Fatalf("job %d unknown", id)
		}
		if bd.Total != st.Priority || len(bd.Factors) != 4 {
			t.Errorf("job %d: Explain total %v with %d factors, Status priority %v", id, bd.Total, len(bd.Factors), st.Priority)
		}
	}
	// Job 1 is two days old: it outranks the fast-lane job 2.
	if got := e.Pending()[0].ID; got != 2 {
		t.Errorf("first pending %d, want 2 (1 started first by age)", got)
	}
	if _, ok := e.Explain(99); ok {
		t.Error("Explain of an unknown job succeeded")
	}
}

func TestReservationsAPI(t *testing.T) {
	e := New(Config{BackfillDepth: 1}, []core.Site{site("s", core.Pool{Name: "gpu", Model: "h100", Nodes: 4, AccelPerNode: 4, NodesPerBlock: 2})})
	e.Apply(Reservation{Name: "moon", Site: "s", Pool: "gpu", Accelerators: 8, Blocks: []int{1}, Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Projects: []string{"m"}})
	e.Apply(Reservation{Name: "toobig", Site: "s", Pool: "gpu", Accelerators: 16, Blocks: []int{0}, Start: t0, End: t0.Add(time.Hour)})
	want := []ReservationStatus{
		{Name: "toobig", Start: t0, End: t0.Add(time.Hour), Problem: "blocks [0] hold 2 free nodes, 4 needed"},
		{Name: "moon", Site: "s", Pool: "gpu", Accelerators: 8, Nodes: []string{"gpu-0002", "gpu-0003"}, Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)},
	}
	if diff := cmp.Diff(want, e.Reservations()); diff != "" {
		t.Errorf("reservations (-want +got):\n%s", diff)
	}
	// A two-hour job may not use the drained nodes; a 30-minute one may.
	e.Apply(mkjob(1, "8").Walltime(2 * time.Hour).Ev())
	e.Apply(mkjob(2, "4").Walltime(2 * time.Hour).Ev())
	e.Apply(mkjob(3, "4").Walltime(30 * time.Minute).Ev())
	in, next := e.Step(t0)
	got := starts(in)
	if len(got[1]) != 2 || len(got[2]) != 0 || len(got[3]) != 1 || got[3][0].Node != "gpu-0002" {
		t.Errorf("starts %v: want job 1 on block 0, job 3 backfilled onto gpu-0002", got)
	}
	if !next.Equal(t0.Add(time.Hour)) {
		t.Errorf("next wake %v, want the reservation's start", next)
	}
	e.Apply(ReservationDeleted{Name: "moon"})
	e.Apply(ReservationDeleted{Name: "toobig"})
	if n := len(e.Reservations()); n != 0 {
		t.Errorf("%d reservations left", n)
	}
	in, _ = e.Step(t0.Add(time.Minute))
	if got := starts(in); len(got[2]) != 1 || got[2][0].Node != "gpu-0003" {
		t.Errorf("after deleting the reservation, starts %v: want job 2 on gpu-0003", got)
	}
}
