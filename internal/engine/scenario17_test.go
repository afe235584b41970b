package engine_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

// Issue 17's acceptance scenarios, on the real EU network (config.EU())
// in virtual time. The third, "an impossible topology is refused at
// submission", is internal/api's TestNeverRunnableRefusedEU ("a pod
// larger than any pod": 65,536 accelerators, topology pod).

// world drives an engine as the shell would: it confirms every Start
// (Started), ends each job at its walltime (Ended) and steps the clock
// minute by minute, submitting jobs when their time comes.
type world struct {
	t       *testing.T
	e       *engine.Engine
	wall    map[core.JobID]time.Duration
	start   map[core.JobID]time.Time
	alloc   map[core.JobID]core.Allocation
	submit  map[time.Time][]engine.Submitted
	running map[core.JobID]time.Time // expected end
}

func newWorld(t *testing.T, sites []core.Site) *world {
	return &world{t: t, e: engine.New(engine.DefaultConfig(), sites), wall: map[core.JobID]time.Duration{},
		start: map[core.JobID]time.Time{}, alloc: map[core.JobID]core.Allocation{},
		submit: map[time.Time][]engine.Submitted{}, running: map[core.JobID]time.Time{}}
}

// job is a job of n accelerators of model at site for wall, submitted at
// at by project.
func (w *world) job(id core.JobID, at time.Time, site, project string, n int, wall time.Duration, model string) *engine.Submitted {
	s := engine.Submitted{Job: core.Job{ID: id, User: project + "-user", Project: project, Org: "o", State: core.StatePending, SubmitTime: at,
		Spec: core.JobSpec{Command: []string{"train"}, Accelerators: core.Milli(n) * 1000, Model: model, Site: site, Walltime: core.Duration(wall)}}}
	w.wall[id] = wall
	w.submit[at] = append(w.submit[at], s)
	return &w.submit[at][len(w.submit[at])-1]
}

// run steps the clock from from to to, one minute at a time.
func (w *world) run(from, to time.Time) {
	for now := from; !now.After(to); now = now.Add(time.Minute) {
		for id, end := range w.running {
			if !end.After(now) {
				w.e.Apply(engine.Ended{ID: id, State: core.StateCompleted, At: end})
				delete(w.running, id)
			}
		}
		for _, s := range w.submit[now] {
			w.e.Apply(s)
		}
		in, _ := w.e.Step(now)
		for _, it := range in {
			s, ok := it.(engine.Start)
			if !ok {
				continue
			}
			w.e.Apply(engine.Started{ID: s.ID, Alloc: s.Alloc, At: now})
			w.start[s.ID], w.alloc[s.ID] = now, s.Alloc
			w.running[s.ID] = now.Add(w.wall[s.ID])
		}
	}
}

// TestScenarioWholeSiteGangOnBusyGfFr: "a 100,000-accelerator gang runs
// on gf-fr". gf-fr is full of smaller GB200 jobs ending over ten hours;
// the gang, pinned there, gets an EASY reservation across both halls
// (train-a and train-b), so it starts the minute the last of them ends,
// and the small jobs that keep coming after it start before it only if
// they end by then (backfill).
func TestScenarioWholeSiteGangOnBusyGfFr(t *testing.T) {
	w := newWorld(t, euSites(t, "gf-fr", map[string]int{"train-a": 50_000, "train-b": 50_000}))
	const gb200 = "NVIDIA GB200"
	// Fifty jobs of 2,000 (500 nodes) fill the site, ending after 1 to
	// 10 hours.
	var last time.Time
	for i := range 50 {
		wall := time.Duration(1+i%10) * time.Hour
		w.job(core.JobID(100+i), day0, "gf-fr", "fill", 2000, wall, gb200)
		if end := day0.Add(wall); end.After(last) {
			last = end
		}
	}
	w.run(day0, day0)
	if len(w.running) != 50 {
		t.Fatalf("%d of the 50 filling jobs started: gf-fr is not full", len(w.running))
	}
	gangAt := day0.Add(time.Minute)
	w.job(1, gangAt, "gf-fr", "moon", 100_000, 24*time.Hour, gb200)
	// Later, every half hour, the team that fills the site submits more:
	// jobs of 2,000 for three hours (they would delay the gang) and of 72
	// for twenty minutes (they fit before it).
	id := core.JobID(1000)
	for at := gangAt.Add(time.Minute); at.Before(last); at = at.Add(30 * time.Minute) {
		w.job(id, at, "gf-fr", "fill", 2000, 3*time.Hour, gb200)
		w.job(id+1, at, "gf-fr", "fill", 72, 20*time.Minute, gb200)
		id += 2
	}
	w.run(gangAt, gangAt.Add(30*time.Minute))
	st, _ := w.e.Status(1)
	if !strings.Contains(strings.Join(st.Reasons, "; "), "reserved: 25000 nodes of train-a, train-b") {
		t.Errorf("the waiting gang's reasons %q: want its reservation across both halls", st.Reasons)
	}
	w.run(gangAt.Add(31*time.Minute), last.Add(time.Hour))
	got, ok := w.start[1]
	if !ok {
		st, _ := w.e.Status(1)
		t.Fatalf("the 100,000 gang never started: %s", st.Reason)
	}
	if !got.Equal(last) {
		t.Errorf("the gang started at %s, want %s, when the last filling job ended", got.Format(time.TimeOnly), last.Format(time.TimeOnly))
	}
	if a := w.alloc[1]; a.Site != "gf-fr" || a.Pool != "train-a,train-b" || len(a.Nodes) != 25_000 {
		t.Errorf("the gang runs on %s/%s, %d nodes; want all 25,000 nodes of gf-fr", a.Site, a.Pool, len(a.Nodes))
	}
	backfilled := 0
	for j, at := range w.start {
		if j < 1000 || !at.Before(got) {
			continue
		}
		if end := at.Add(w.wall[j]); end.After(got) {
			t.Errorf("job %d, submitted after the gang, started at %s and runs to %s, past the gang's start", j, at.Format(time.TimeOnly), end.Format(time.TimeOnly))
		}
		backfilled++
	}
	if backfilled == 0 {
		t.Error("no later job backfilled before the gang: the scenario does not exercise backfill")
	}
}

// TestScenarioReservationDrainedAhead: "a 65,536-accelerator reservation
// booked for tomorrow on a busy gigafactory is drained ahead and its job
// starts at the window's start". gf-de's GB200 pool (80,000) is full;
// the reservation is booked as the daemon books it (Named, for a
// project), its job names it, and jobs keep coming. No job whose
// walltime crosses the window's start runs on the reserved nodes, and
// the job starts on them exactly at the window's start.
func TestScenarioReservationDrainedAhead(t *testing.T) {
	sites := euSites(t, "gf-de", map[string]int{"train": 80_000, "serve": 20_000})
	w := newWorld(t, sites)
	const gb200 = "NVIDIA GB200"
	tomorrow := day0.Add(24 * time.Hour)
	// Forty jobs of 2,000 fill the train pool: thirty-three end within 2
	// to 20 hours, seven run for 36 (past the window's start, on nodes
	// the reservation cannot have).
	for i := range 40 {
		wall := time.Duration(2+i%19) * time.Hour
		if i >= 33 {
			wall = 36 * time.Hour
		}
		w.job(core.JobID(100+i), day0, "gf-de", "fill", 2000, wall, gb200)
	}
	w.run(day0, day0)
	if len(w.running) != 40 {
		t.Fatalf("%d of the 40 filling jobs started: gf-de's train pool is not full", len(w.running))
	}
	booked := day0.Add(time.Minute)
	w.e.Apply(engine.Reservation{Name: "moon", Site: "gf-de", Model: gb200, Accelerators: 65_536,
		Start: tomorrow, End: tomorrow.Add(12 * time.Hour), Projects: []string{"moon"}, Named: true})
	moon := w.job(1, booked, "gf-de", "moon", 65_536, 12*time.Hour, gb200)
	moon.Job.Spec.Reservation = "moon"
	// Jobs keep coming every hour: 2,000 for 6 hours and 72 for 1 hour.
	id := core.JobID(1000)
	for at := booked.Add(time.Minute); at.Before(tomorrow); at = at.Add(time.Hour) {
		w.job(id, at, "gf-de", "later", 2000, 6*time.Hour, gb200)
		w.job(id+1, at, "gf-de", "later", 72, time.Hour, gb200)
		id += 2
	}
	w.run(booked, booked)
	rs := w.e.Reservations()
	if len(rs) != 1 || rs[0].Problem != "" || rs[0].Accelerators != 65_536 || len(rs[0].Nodes) != 16_384 {
		t.Fatalf("reservations %+v: want moon on 16,384 nodes", rs)
	}
	reserved := map[string]bool{}
	for _, n := range rs[0].Nodes {
		reserved[n] = true
	}
	if st, _ := w.e.Status(1); !strings.HasPrefix(st.Reason, "Reservation: waiting for the window of moon") {
		t.Errorf("before the window, the job's reason is %q", st.Reason)
	}
	w.run(booked.Add(time.Minute), tomorrow.Add(time.Hour))
	got, ok := w.start[1]
	if !ok {
		st, _ := w.e.Status(1)
		t.Fatalf("the reservation's job never started: %s", st.Reason)
	}
	if !got.Equal(tomorrow) {
		t.Errorf("the reservation's job started at %s, want the window's start %s", got, tomorrow)
	}
	if a := w.alloc[1]; len(a.Nodes) != 16_384 || slices.ContainsFunc(a.Nodes, func(n core.NodeAlloc) bool { return !reserved[n.Node] }) {
		t.Errorf("the job runs on %d nodes, not all the reservation's", len(a.Nodes))
	}
	onReserved := 0
	for j, at := range w.start {
		if j == 1 || !slices.ContainsFunc(w.alloc[j].Nodes, func(n core.NodeAlloc) bool { return reserved[n.Node] }) {
			continue
		}
		if at.Before(tomorrow) && at.Add(w.wall[j]).After(tomorrow) {
			t.Errorf("job %d ran on reserved nodes from %s to %s, across the window's start", j, at, at.Add(w.wall[j]))
		}
		if at.After(booked) && at.Before(tomorrow) {
			onReserved++
		}
	}
	if onReserved == 0 {
		t.Error("no job submitted after the booking ran on the reserved nodes before the window: the scenario does not exercise backfill there")
	}
}
