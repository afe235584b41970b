package engine

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestIntentsAreTheCallers: each pass returns its own slice, made with
// room for a pass like the last ones; one kept by the caller is not
// touched by later passes.
func TestIntentsAreTheCallers(t *testing.T) {
	e := New(Config{}, []core.Site{site("a", pool("gpu", 8, 8))})
	var kept [][]Intent
	var want [][]core.JobID
	id := int64(0)
	for pass := range 6 {
		var ids []core.JobID
		for range 3 + pass {
			id++
			e.Apply(Submitted{Job: mkjob(id, "1").Submit(t0).j})
			ids = append(ids, core.JobID(id))
		}
		in, _ := e.Step(t0.Add(time.Duration(pass) * time.Second))
		if len(in) != len(ids) {
			t.Fatalf("pass %d: %d intents, want %d", pass, len(in), len(ids))
		}
		kept, want = append(kept, in), append(want, ids)
	}
	for p, in := range kept {
		for i, x := range in {
			if s, ok := x.(Start); !ok || s.ID != want[p][i] {
				t.Fatalf("pass %d's intent %d is now %+v, want a Start of job %d", p, i, x, want[p][i])
			}
		}
	}
	if in, _ := e.Step(t0.Add(time.Minute)); in != nil {
		t.Fatalf("a pass that starts nothing returned %v", in)
	}
}
