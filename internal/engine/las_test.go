package engine

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestLASPreemption: under DefaultConfig a job that has run long (a
// later attained-service queue) gives way to a new job of its tier only
// when it is checkpointable or preemptible, after MinRuntime; once
// requeued it keeps its attained service, which Explain shows.
func TestLASPreemption(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		spec         core.JobSpec
		ranFor       time.Duration
		wantPreempt  bool
		wantAttained float64
	}{
		{"checkpointable, past both bounds", core.JobSpec{Accelerators: 8000, Checkpointable: true}, 5 * time.Hour, true, 8 * 5 * 3600},
		{"preemptible", core.JobSpec{Accelerators: 8000, Preemptible: true}, 5 * time.Hour, true, 8 * 5 * 3600},
		{"neither", core.JobSpec{Accelerators: 8000}, 5 * time.Hour, false, 0},
		{"checkpointable, before MinRuntime", core.JobSpec{Accelerators: 8000, Checkpointable: true}, 5 * time.Minute, false, 0},
		{"checkpointable, still in the first queue", core.JobSpec{Accelerators: 1000, Checkpointable: true}, 30 * time.Minute, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(DefaultConfig(), []core.Site{site("s", pool("gpu", 1, 8))})
			long := core.Job{ID: 1, Org: "o", Project: "p", User: "u", State: core.StatePending, SubmitTime: t0, Spec: tt.spec}
			e.Apply(Submitted{Job: long})
			in, _ := e.Step(t0)
			st := starts(in)
			if len(st[1]) == 0 {
				t.Fatalf("the first job did not start: %v", in)
			}
			e.Apply(Started{ID: 1, Alloc: *e.jobs.get(1).Alloc, At: t0})
			// The new job needs the whole node: it starts only if job 1 goes.
			now := t0.Add(tt.ranFor)
			e.Apply(Submitted{Job: core.Job{ID: 2, Org: "o", Project: "p", User: "u", State: core.StatePending, SubmitTime: now,
				Spec: core.JobSpec{Accelerators: 8000}}})
			in, _ = e.Step(now)
			var pre *Preempt
			for _, x := range in {
				if p, ok := x.(Preempt); ok {
					pre = &p
				}
			}
			if (pre != nil) != tt.wantPreempt {
				t.Fatalf("preempt = %+v, want %v (intents %v)", pre, tt.wantPreempt, in)
			}
			if pre == nil {
				return
			}
			if pre.ID != 1 || pre.For != 2 {
				t.Fatalf("preempted %d for %d, want 1 for 2", pre.ID, pre.For)
			}
			stop := now.Add(pre.Grace)
			e.Apply(Ended{ID: 1, At: stop, Requeue: true})
			in, _ = e.Step(stop)
			if len(starts(in)[2]) == 0 {
				t.Fatalf("the new job did not start on the freed node: %v", in)
			}
			b, ok := e.ExplainAt(1, stop)
			if !ok {
				t.Fatal("requeued job unknown")
			}
			for _, f := range b.Factors {
				if f.Name == "attained" && f.Value != 0 {
					t.Errorf("requeued job's attained factor %v (%s), want 0 (the last queue)", f.Value, f.Note)
				}
			}
			if w := e.jobs.get(1).wt(); w.attained < tt.wantAttained {
				t.Errorf("attained %v accelerator-seconds, want at least %v", w.attained, tt.wantAttained)
			}
		})
	}
}
