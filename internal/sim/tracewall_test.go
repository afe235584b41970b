package sim_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sim"
)

// A job that gives no walltime is planned with its site's default (1 h
// here) but runs its recorded duration: the twin does not cut trace jobs
// off at a limit their users were not subject to; a job that gives a
// walltime is still cut off at it. Each policy records the difference.
func TestTraceWalltimesPlannedNotEnforced(t *testing.T) {
	tests := map[string]struct {
		policy   string
		walltime time.Duration
		wantEndS float64
		timedOut int
	}{
		"live, no walltime: runs 3 h":    {sim.PolicyLive, 0, 3 * 3600, 0},
		"lean, no walltime: runs 3 h":    {sim.PolicyLean, 0, 3 * 3600, 0},
		"live, 2 h walltime: cut at 2 h": {sim.PolicyLive, 2 * time.Hour, 2 * 3600, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			work := []sim.Arrival{{Milli: 8000, Duration: 3 * time.Hour, Walltime: tc.walltime, Tenant: "p0", Model: "h100"}}
			var start time.Duration = -1
			res, err := sim.Replay(sim.ReplayConfig{Policy: tc.policy, Sites: liveSites(), Jobs: sim.NewSliceStream(work),
				OnStart: func(_ core.JobID, at time.Duration, _ *core.Allocation) { start = at }})
			if err != nil {
				t.Fatal(err)
			}
			if start != 0 {
				t.Fatalf("started at %v, want 0", start)
			}
			if res.TimedOut != tc.timedOut || res.Completed+res.TimedOut != 1 {
				t.Errorf("completed %d, timed out %d; want %d timed out", res.Completed, res.TimedOut, tc.timedOut)
			}
			if got := res.SimulatedSpanS; got != tc.wantEndS {
				t.Errorf("simulated span %v s, want %v (the run's end)", got, tc.wantEndS)
			}
			var cfg map[string]any
			if err := json.Unmarshal(res.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			if got := cfg["trace_walltimes"]; got != sim.TraceWalltimes {
				t.Errorf("config trace_walltimes = %v, want %q", got, sim.TraceWalltimes)
			}
		})
	}
}
