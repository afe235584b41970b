package engine

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// site builds a one-pool site of n nodes of k accelerators.
func site(id string, pools ...core.Pool) core.Site {
	return core.Site{ID: id, Country: "FI", State: core.SiteActive, Pools: pools}
}

func pool(name string, nodes, k int) core.Pool {
	return core.Pool{Name: name, Model: "h100", Nodes: nodes, AccelPerNode: k}
}

// jobB is a fixture builder for core.Job.
type jobB struct{ j core.Job }

func mkjob(id int64, accels string) *jobB {
	m, err := core.ParseMilli(accels)
	if err != nil {
		panic(err)
	}
	return &jobB{core.Job{ID: core.JobID(id), Project: "p", Org: "o", User: "u", State: core.StatePending,
		SubmitTime: t0, Spec: core.JobSpec{Accelerators: m}}}
}

func (b *jobB) Nodes(n int) *jobB              { b.j.Spec.Nodes = n; return b }
func (b *jobB) Walltime(d time.Duration) *jobB { b.j.Spec.Walltime = core.Duration(d); return b }
func (b *jobB) Project(org, p string) *jobB    { b.j.Org, b.j.Project = org, p; return b }
func (b *jobB) QoS(q string) *jobB             { b.j.Spec.QoS = q; return b }
func (b *jobB) Submit(t time.Time) *jobB       { b.j.SubmitTime = t; return b }
func (b *jobB) Model(m string) *jobB           { b.j.Spec.Model = m; return b }
func (b *jobB) Site(s string) *jobB            { b.j.Spec.Site = s; return b }
func (b *jobB) Preemptible(ckpt bool) *jobB {
	b.j.Spec.Preemptible, b.j.Spec.Checkpointable = true, ckpt
	return b
}
func (b *jobB) Topology(t string) *jobB          { b.j.Spec.Topology = t; return b }
func (b *jobB) Obj2(f func(*core.Job)) Submitted { f(&b.j); return Submitted{Job: b.j} }
func (b *jobB) Obj() core.Job                    { return b.j }
func (b *jobB) Ev() Submitted                    { return Submitted{Job: b.j} }

// starts reduces intents to "id -> node:devices" lines for comparison.
func starts(in []Intent) map[core.JobID][]core.NodeAlloc {
	out := map[core.JobID][]core.NodeAlloc{}
	for _, i := range in {
		if s, ok := i.(Start); ok {
			out[s.ID] = s.Alloc.Nodes
		}
	}
	return out
}

func na(node string, milli core.Milli, devs ...int) core.NodeAlloc {
	return core.NodeAlloc{Node: node, Accels: devs, Milli: milli}
}

func TestFirstFit(t *testing.T) {
	tests := map[string]struct {
		sites   []core.Site
		jobs    []core.Job
		want    map[core.JobID][]core.NodeAlloc
		reasons map[core.JobID]string
	}{
		"whole nodes and halves": {
			sites: []core.Site{site("s", pool("gpu", 2, 8))},
			jobs:  []core.Job{mkjob(1, "8").Obj(), mkjob(2, "4").Obj(), mkjob(3, "4").Obj(), mkjob(4, "8").Obj()},
			want: map[core.JobID][]core.NodeAlloc{
				1: {na("gpu-0000", 0, 0, 1, 2, 3, 4, 5, 6, 7)},
				2: {na("gpu-0001", 0, 0, 1, 2, 3)},
				3: {na("gpu-0001", 0, 4, 5, 6, 7)},
			},
			reasons: map[core.JobID]string{4: "waiting for 8 accelerators (16 of 16 in use)"},
		},
		"best fit keeps a whole node free": {
			sites: []core.Site{site("s", pool("gpu", 2, 8))},
			jobs:  []core.Job{mkjob(1, "6").Obj(), mkjob(2, "2").Obj(), mkjob(3, "8").Obj()},
			want: map[core.JobID][]core.NodeAlloc{
				1: {na("gpu-0000", 0, 0, 1, 2, 3, 4, 5)},
				2: {na("gpu-0000", 0, 6, 7)},
				3: {na("gpu-0001", 0, 0, 1, 2, 3, 4, 5, 6, 7)},
			},
		},
		"fractions share a device up to 1000": {
			sites: []core.Site{site("s", pool("gpu", 1, 2))},
			jobs:  []core.Job{mkjob(1, "0.5").Obj(), mkjob(2, "0.25").Obj(), mkjob(3, "0.5").Obj(), mkjob(4, "0.25").Obj(), mkjob(5, "1").Obj(), mkjob(6, "0.5").Obj(), mkjob(7, "0.75").Obj()},
			want: map[core.JobID][]core.NodeAlloc{
				1: {na("gpu-0000", 500, 0)},
				2: {na("gpu-0000", 250, 0)},
				3: {na("gpu-0000", 500, 1)},
				4: {na("gpu-0000", 250, 0)},
				6: {na("gpu-0000", 500, 1)},
			},
			reasons: map[core.JobID]string{
				5: "waiting for 1 accelerator (2 of 2 in use)",
				7: "waiting for 0.75 accelerators (2 of 2 in use)",
			},
		},
		"multi-node takes whole nodes": {
			sites: []core.Site{site("s", pool("gpu", 3, 4))},
			jobs:  []core.Job{mkjob(1, "1").Obj(), mkjob(2, "8").Obj()},
			want: map[core.JobID][]core.NodeAlloc{
				1: {na("gpu-0000", 0, 0)},
				2: {na("gpu-0001", 0, 0, 1, 2, 3), na("gpu-0002", 0, 0, 1, 2, 3)},
			},
		},
		"model filter": {
			sites:   []core.Site{site("s", pool("gpu", 1, 4), core.Pool{Name: "mi", Model: "mi300x", Nodes: 1, AccelPerNode: 8})},
			jobs:    []core.Job{mkjob(1, "2").Model("mi300x").Obj(), mkjob(2, "2").Model("b200").Obj()},
			want:    map[core.JobID][]core.NodeAlloc{1: {na("mi-0000", 0, 0, 1)}},
			reasons: map[core.JobID]string{2: "no pool matches the job's model, site and residency"},
		},
		"too big ever": {
			sites:   []core.Site{site("s", pool("gpu", 1, 4))},
			jobs:    []core.Job{mkjob(1, "16").Obj()},
			want:    map[core.JobID][]core.NodeAlloc{},
			reasons: map[core.JobID]string{1: "needs 16 accelerators; eligible pools have 4 in all"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := New(Config{}, tc.sites)
			for _, j := range tc.jobs {
				e.Apply(Submitted{Job: j})
			}
			in, _ := e.Step(t0)
			if diff := cmp.Diff(tc.want, starts(in)); diff != "" {
				t.Errorf("starts (-want +got):\n%s", diff)
			}
			for id, want := range tc.reasons {
				st, ok := e.Status(id)
				if !ok || st.Reason != want {
					t.Errorf("job %d reason = %q (known %v), want %q", id, st.Reason, ok, want)
				}
			}
			for _, st := range e.Pending() {
				if st.Reason == "" {
					t.Errorf("pending job %d has no reason", st.ID)
				}
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	e := New(Config{}, []core.Site{site("s", pool("gpu", 1, 8))})
	e.Apply(mkjob(1, "8").Ev())
	e.Apply(mkjob(2, "4").Ev())
	e.Apply(mkjob(3, "4").Ev())
	in, _ := e.Step(t0)
	if diff := cmp.Diff(map[core.JobID][]core.NodeAlloc{1: {na("gpu-0000", 0, 0, 1, 2, 3, 4, 5, 6, 7)}}, starts(in)); diff != "" {
		t.Fatalf("first step (-want +got):\n%s", diff)
	}
	st, _ := e.Status(3)
	if diff := cmp.Diff([]string{"waiting for 4 accelerators (8 of 8 in use)", "behind 1 job of higher priority"}, st.Reasons); diff != "" {
		t.Errorf("job 3 reasons (-want +got):\n%s", diff)
	}
	// A second step without events starts nothing: Start already holds.
	if in, _ := e.Step(t0.Add(time.Minute)); len(in) != 0 {
		t.Fatalf("second step started %v", in)
	}
	e.Apply(Started{ID: 1, Alloc: core.Allocation{Site: "s", Pool: "gpu", Nodes: []core.NodeAlloc{na("gpu-0000", 0, 0, 1, 2, 3, 4, 5, 6, 7)}}, At: t0})
	if st, _ := e.Status(1); st.State != core.StateRunning {
		t.Errorf("job 1 state %s after Started, want running", st.State)
	}
	e.Apply(Cancelled{ID: 3, At: t0})
	if _, ok := e.Status(3); ok {
		t.Errorf("cancelled pending job 3 still known")
	}
	e.Apply(Ended{ID: 1, State: core.StateCompleted, At: t0.Add(time.Hour)})
	in, _ = e.Step(t0.Add(time.Hour))
	if diff := cmp.Diff(map[core.JobID][]core.NodeAlloc{2: {na("gpu-0000", 0, 0, 1, 2, 3)}}, starts(in)); diff != "" {
		t.Errorf("after end (-want +got):\n%s", diff)
	}
	if got := len(e.Pending()); got != 0 {
		t.Errorf("%d pending, want 0", got)
	}
	// Cancelling an active job releases it.
	e.Apply(Cancelled{ID: 2, At: t0.Add(2 * time.Hour)})
	if got := e.Cluster().Pools[0].Free(); got != 8 {
		t.Errorf("free after cancel = %d, want 8", got)
	}
}

func TestRequeue(t *testing.T) {
	e := New(Config{}, []core.Site{site("s", pool("gpu", 1, 8))})
	e.Apply(mkjob(1, "8").Ev())
	e.Step(t0)
	e.Apply(Ended{ID: 1, State: core.StateFailed, At: t0.Add(time.Minute), Requeue: true})
	st, ok := e.Status(1)
	if !ok || st.State != core.StatePending {
		t.Fatalf("requeued job: %+v %v, want pending", st, ok)
	}
	in, _ := e.Step(t0.Add(2 * time.Minute))
	if len(starts(in)[1]) != 1 {
		t.Errorf("requeued job not restarted: %v", in)
	}
}

func TestStartedUnknownHoldsResources(t *testing.T) {
	e := New(Config{}, []core.Site{site("s", pool("gpu", 2, 4))})
	// Reloaded at restart: job 7 runs on gpu-0001 devices 0 and 2, job 8
	// holds a quarter of gpu-0000's device 3.
	e.Apply(Started{ID: 7, Alloc: core.Allocation{Site: "s", Pool: "gpu", Nodes: []core.NodeAlloc{na("gpu-0001", 0, 0, 2)}}, At: t0})
	e.Apply(Started{ID: 8, Alloc: core.Allocation{Site: "s", Nodes: []core.NodeAlloc{na("gpu-0000", 250, 3)}}, At: t0})
	e.Apply(mkjob(9, "4").Ev())
	e.Apply(mkjob(10, "2").Ev())
	e.Apply(mkjob(11, "1").Ev())
	in, _ := e.Step(t0)
	want := map[core.JobID][]core.NodeAlloc{
		10: {na("gpu-0001", 0, 1, 3)},
		11: {na("gpu-0000", 0, 0)},
	}
	if diff := cmp.Diff(want, starts(in)); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
	st, _ := e.Status(9)
	if st.Reason != "waiting for 4 accelerators (6 of 8 in use)" {
		t.Errorf("job 9 reason %q", st.Reason)
	}
}

func TestDistinctDevices(t *testing.T) {
	e := New(Config{}, []core.Site{site("s", pool("gpu", 4, 8))})
	sizes := []string{"3", "1", "2", "5", "8", "1", "0.5", "4", "2", "0.3", "7"}
	for i, s := range sizes {
		e.Apply(mkjob(int64(i+1), s).Ev())
	}
	in, _ := e.Step(t0)
	whole := map[string]map[int]bool{}
	frac := map[string]map[int]core.Milli{}
	for _, x := range in {
		for _, n := range x.(Start).Alloc.Nodes {
			if whole[n.Node] == nil {
				whole[n.Node], frac[n.Node] = map[int]bool{}, map[int]core.Milli{}
			}
			for _, d := range n.Accels {
				if n.Milli > 0 {
					frac[n.Node][d] += n.Milli
					continue
				}
				if whole[n.Node][d] {
					t.Errorf("device %s/%d given twice", n.Node, d)
				}
				whole[n.Node][d] = true
			}
		}
	}
	for node, m := range frac {
		for d, v := range m {
			if v > 1000 || whole[node][d] {
				t.Errorf("device %s/%d over-shared: %d milli, whole %v", node, d, v, whole[node][d])
			}
		}
	}
}

// TestEventsByPointer: Submitted, Started and Ended applied by pointer (as
// the twin does, reusing one of each) drive the engine and the federation
// exactly as by value.
func TestEventsByPointer(t *testing.T) {
	sites := []core.Site{site("a", pool("gpu", 2, 4)), site("b", pool("gpu", 2, 4))}
	for i := range sites {
		sites[i].Kind = core.SiteFactory
	}
	type applier interface {
		Apply(Event)
		Step(time.Time) ([]Intent, time.Time)
		Status(core.JobID) (Status, bool)
	}
	run := func(e applier, byPointer bool) []string {
		apply := func(ev Event) {
			if !byPointer {
				e.Apply(ev)
				return
			}
			switch ev := ev.(type) {
			case Submitted:
				e.Apply(&ev)
			case Started:
				e.Apply(&ev)
			case Ended:
				e.Apply(&ev)
			default:
				e.Apply(ev)
			}
		}
		var log []string
		now := t0
		for i := int64(1); i <= 6; i++ {
			apply(Submitted{Job: mkjob(i, "3").Walltime(time.Hour).j})
		}
		for step := 0; step < 4; step++ {
			in, _ := e.Step(now)
			for _, x := range in {
				if s, ok := x.(Start); ok {
					log = append(log, fmt.Sprintf("%v start %d at %s", now.Sub(t0), s.ID, s.Alloc.Site))
					apply(Started{ID: s.ID, Alloc: s.Alloc, At: now})
				}
			}
			now = now.Add(time.Hour)
			for id := int64(1); id <= 6; id++ {
				if st, ok := e.Status(core.JobID(id)); ok && st.State == core.StateRunning {
					apply(Ended{ID: core.JobID(id), State: core.StateCompleted, At: now})
					log = append(log, fmt.Sprintf("%v end %d", now.Sub(t0), id))
				}
			}
		}
		return log
	}
	for _, fed := range []bool{false, true} {
		mk := func() applier {
			if fed {
				return NewFederation(DefaultConfig(), Routing{WinnerOnly: true}, sites)
			}
			return New(DefaultConfig(), sites)
		}
		want, got := run(mk(), false), run(mk(), true)
		if len(want) < 12 {
			t.Fatalf("federation %v: only %d events: %v", fed, len(want), want)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("federation %v: by value (-) and by pointer (+) differ:\n%s", fed, diff)
		}
	}
}

// TestRecycledRecordsStartClean checks that a job whose record is reused
// from one that ended (or was cancelled while waiting) carries nothing of
// it: its status and its start match those of the same job in an engine
// that never ran anything.
func TestRecycledRecordsStartClean(t *testing.T) {
	sites := []core.Site{site("a", pool("gpu", 2, 4))}
	// Without the fair-share term: the used engine's history would rightly
	// change the new jobs' priorities.
	cfg := DefaultConfig()
	cfg.Priority.FairShareWeight = 0
	e := New(cfg, sites)
	old := map[*job]bool{}
	// Round 1: records that picked up every kind of state: started, a
	// reason to wait, an estimated start, a hold, cancelled while waiting.
	e.Apply(Submitted{Job: mkjob(1, "4").Walltime(2 * time.Hour).QoS(core.QoSMoonshot).j})
	e.Apply(Submitted{Job: mkjob(2, "3").Walltime(time.Hour).Preemptible(true).Project("o2", "p2").j})
	e.Apply(Submitted{Job: mkjob(3, "8").Nodes(2).Walltime(time.Hour).j})
	e.Apply(Submitted{Job: mkjob(4, "2").Model("a100").j})
	in, _ := e.Step(t0)
	for id, nodes := range starts(in) {
		e.Apply(Started{ID: id, Alloc: core.Allocation{Site: "a", Pool: "gpu", Nodes: nodes}, At: t0})
	}
	for id := core.JobID(1); id <= 4; id++ {
		old[e.jobs.get(id)] = true
	}
	if st, ok := e.Status(3); !ok || st.State != core.StatePending || st.Reason == "" {
		t.Fatalf("job 3 should wait with a reason: %+v", st)
	}
	end := t0.Add(time.Minute)
	for id := core.JobID(1); id <= 4; id++ {
		st, _ := e.Status(id)
		if st.State == core.StatePending {
			e.Apply(Cancelled{ID: id, At: end})
		} else {
			e.Apply(Ended{ID: id, State: core.StateCompleted, At: end})
		}
	}
	e.Step(end)
	if len(e.free) == 0 {
		t.Fatalf("no record was freed for reuse (retired %d)", len(e.retired))
	}
	for _, j := range e.free {
		if !old[j] {
			t.Fatalf("free list holds a record that no job used")
		}
	}
	// The engine's part is cleared; the Job part is overwritten whole by
	// the submission that takes the record.
	if j := e.newJob(); !reflect.ValueOf(j.jobState).IsZero() {
		t.Fatalf("a reused record's engine state is not zero: %+v", j.jobState)
	} else {
		e.free = append(e.free, j)
	}

	// Round 2: the same new job in the used engine and in a fresh one.
	at := end.Add(time.Minute)
	fresh := New(cfg, sites)
	var got []Status
	for _, eng := range []*Engine{e, fresh} {
		eng.Apply(Submitted{Job: mkjob(10, "8").Nodes(2).Walltime(30 * time.Minute).Submit(at).j})
		eng.Apply(Submitted{Job: mkjob(11, "1").Submit(at).j})
		in, _ := eng.Step(at)
		if len(starts(in)) != 1 {
			t.Fatalf("want one start (job 10 fills the pool), got %v", starts(in))
		}
		for _, id := range []core.JobID{10, 11} {
			st, ok := eng.Status(id)
			if !ok {
				t.Fatalf("job %d unknown", id)
			}
			got = append(got, st)
		}
	}
	if !old[e.jobs.get(10)] && !old[e.jobs.get(11)] {
		t.Fatal("neither new job reused a record; the test checks nothing")
	}
	if diff := cmp.Diff(got[2:], got[:2]); diff != "" {
		t.Errorf("reused records differ from fresh ones (-fresh +reused):\n%s", diff)
	}
}

// TestSplitStarts checks that an engine told to keep its starts apart
// and to reuse allocations starts the same jobs on the same devices, in
// the same order, returns no Start among its intents, and does reuse the
// allocations of jobs that ended.
func TestSplitStarts(t *testing.T) {
	sites := []core.Site{site("a", pool("gpu", 4, 8))}
	seen := map[*core.NodeAlloc]int{}
	run := func(split bool) []string {
		e := New(DefaultConfig(), sites)
		if split {
			e.SplitStarts()
			e.ReuseAllocations()
		}
		var log []string
		now := t0
		for i := int64(1); i <= 12; i++ {
			e.Apply(Submitted{Job: mkjob(i, []string{"1", "4", "8", "0.5"}[i%4]).Walltime(time.Hour).j})
		}
		for step := 0; step < 4; step++ {
			in, _ := e.Step(now)
			var ss []Start
			for _, x := range in {
				if s, ok := x.(Start); ok {
					if split {
						t.Fatalf("split engine returned Start %d among its intents", s.ID)
					}
					ss = append(ss, s)
				}
			}
			if split {
				ss = append(ss, e.Starts()...)
			}
			for _, s := range ss {
				if split {
					seen[&s.Alloc.Nodes[0]]++
				}
				log = append(log, fmt.Sprintf("%v start %d on %v", now.Sub(t0), s.ID, s.Alloc.Nodes))
				e.Apply(Started{ID: s.ID, Alloc: s.Alloc, At: now})
			}
			now = now.Add(time.Hour)
			for _, s := range ss {
				e.Apply(Ended{ID: s.ID, State: core.StateCompleted, At: now})
			}
		}
		return log
	}
	want, got := run(false), run(true)
	if len(want) < 12 {
		t.Fatalf("only %d starts: %v", len(want), want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("starts differ (-intents +split):\n%s", diff)
	}
	reused := 0
	for _, n := range seen {
		if n > 1 {
			reused++
		}
	}
	if reused == 0 {
		t.Errorf("no allocation was reused across %d starts", len(got))
	}
}
