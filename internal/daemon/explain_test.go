package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestExplainShowsCurrentPriority: gf explain's priority, in the status
// and the breakdown alike, is the breakdown at the daemon's now, the sum
// of its factors; not the queue's copy from the last recompute (an hour
// ago here), which with a steep age weight is far behind.
func TestExplainShowsCurrentPriority(t *testing.T) {
	h := startWith(t, t.TempDir(), nil, func(o *Options) {
		o.Engine.PriorityInterval = time.Hour
		o.Engine.Priority.AgeWeight = 1e9
	})
	hog := h.submit(t, tenant("b", core.JobSpec{Command: []string{"sleep", "60"}, Accelerators: 4000}))
	h.wait(t, hog, func(j core.Job) bool { return j.State == core.StateRunning })
	waiting := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	time.Sleep(20 * time.Millisecond) // the age factor moves on
	ex, err := h.d.Explain(context.Background(), waiting)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status == nil || ex.Priority == nil || len(ex.Priority.Factors) != 6 { // DefaultConfig: age, fairshare, qos, size, class, attained
		t.Fatalf("explanation without status or factors: %+v", ex)
	}
	sum := 0.0
	for _, f := range ex.Priority.Factors {
		sum += f.Points
	}
	if ex.Priority.Total != sum || ex.Status.Priority != sum {
		t.Errorf("priority shown %v, breakdown total %v, factors sum to %v: all three must agree", ex.Status.Priority, ex.Priority.Total, sum)
	}
	if ex.Priority.Factors[0].Value <= 0 {
		t.Errorf("age factor %v: the breakdown is not at now", ex.Priority.Factors[0].Value)
	}
}
