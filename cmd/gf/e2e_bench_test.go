package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// gf bench api loads a real gf serve: every phase answers, the jobs it
// submitted are acknowledged, counted and cancelled at the end, and it
// refuses a server that is not on loopback.
func TestE2EBenchAPI(t *testing.T) {
	s := startServer(t, "--rate-limit", "0")
	out := s.must("bench", "api", "--requests", "40", "--concurrency", "4", "--batch", "50", "--batch-concurrency", "2", "-o", "json")
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Phases) != 4 {
		t.Fatalf("phases %+v", rep.Phases)
	}
	want := map[string]int{"baseline": 0, "single": 40, "batch": 40 * 50, "query": 0}
	for i, name := range []string{"baseline", "single", "batch", "query"} {
		if rep.Phases[i].Phase != name {
			t.Errorf("phase %d is %q, want %q", i, rep.Phases[i].Phase, name)
		}
	}
	for _, p := range rep.Phases {
		if p.Requests != 40 || p.Errors != 0 || p.Jobs != want[p.Phase] {
			t.Errorf("%s: %d requests, %d errors, %d jobs; want 40, 0, %d", p.Phase, p.Requests, p.Errors, p.Jobs, want[p.Phase])
		}
		// The server's CPU comes from /metrics in 10 ms ticks: 2,000 jobs
		// in batches cost it more than one.
		if p.ServerCPUSeconds < 0 || p.Phase == "batch" && (p.ServerCPUSeconds <= 0 || p.ServerCPUMsPerJob <= 0) {
			t.Errorf("%s: server CPU %v s, %v ms a job: want it read from /metrics", p.Phase, p.ServerCPUSeconds, p.ServerCPUMsPerJob)
		}
		if p.ServerCPUMsPerJob > 0 && math.Abs(p.ServerJobsPerCPUSecond*p.ServerCPUMsPerJob-1000) > 1e-6 {
			t.Errorf("%s: %v jobs a CPU-second for %v ms a job, want 1000/ms", p.Phase, p.ServerJobsPerCPUSecond, p.ServerCPUMsPerJob)
		}
		if p.P50Ms <= 0 || p.P50Ms > p.P99Ms || p.P99Ms > p.MaxMs || p.PerSecond <= 0 {
			t.Errorf("%s: percentiles %v/%v/%v, %v/s", p.Phase, p.P50Ms, p.P99Ms, p.MaxMs, p.PerSecond)
		}
	}
	if rep.Cancelled != 40+40*50 {
		t.Errorf("cancelled %d of the bench's %d jobs", rep.Cancelled, 40+40*50)
	}
	for _, j := range s.jobs() {
		if j.Name == "gf-bench" && j.State != core.StateCancelled {
			t.Fatalf("bench job %d left %s", j.ID, j.State)
		}
	}
	r := s.gf("bench", "api", "--url", "http://192.0.2.1:8080", "--requests", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "only against a server on loopback") {
		t.Errorf("a remote server was not refused: %s", r)
	}
}
