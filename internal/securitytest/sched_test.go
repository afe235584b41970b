package securitytest

import (
	"strconv"
	"testing"
	"time"
)

// TestBlockedJobStartsWhenCapacityFrees: a job that had to wait because the
// node was momentarily full starts as soon as the accelerators it needs are
// free again, not at the next periodic re-prioritisation (which once left
// accelerators idle for 58 s, every time). Whatever the engine planned for
// it (a reservation at the long job's walltime end, 1 h away), the pass
// after the short job ends must start it.
func TestBlockedJobStartsWhenCapacityFrees(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	long := s.submit(ten.bob, map[string]any{"project": "probe", "command": []string{"sleep", "600"}, "accelerators": 2})
	s.wait(ten.bob, long.ID, func(j job) bool { return j.State == "running" })
	short := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sleep", "3"}, "accelerators": 2})
	s.wait(ten.alice, short.ID, func(j job) bool { return j.State == "running" })
	blocked := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"true"}, "accelerators": 2})
	if j := s.wait(ten.alice, blocked.ID, func(j job) bool { return true }); j.State != "pending" {
		t.Fatalf("the third job should wait while the node is full; it is %s", j.State)
	}
	short = s.waitEnd(ten.alice, short.ID)
	b := s.wait(ten.alice, blocked.ID, func(j job) bool { return j.StartTime != nil })
	gap := b.StartTime.Sub(*short.EndTime)
	t.Logf("the blocked job started %v after the short job ended", gap.Round(time.Millisecond))
	// One pass is milliseconds; the bug was a minute. The bound leaves room
	// for a loaded CI machine and the driver's poll interval.
	if gap > 10*time.Second {
		t.Errorf("the blocked job started %v after capacity freed: it waited for a re-prioritisation", gap)
	}
	s.mustDo(200, ten.bob, "POST", "/api/v1/jobs/"+itoa(long.ID)+"/cancel", nil)
}

// TestBackfillBesideAReservation is the finding's own case: one node of 8
// accelerators, a long job on 6, a short one on 2; B1 (4) waits with a
// reservation at the long job's end, B2 (2) waits behind it. When the
// short job ends, B2 fits on its 2 accelerators without delaying B1 (at the
// long job's end 6 are free for B1's 4), so it must start at once, not
// when a re-prioritisation rebuilds the reservation.
func TestBackfillBesideAReservation(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(8, "")})
	ten := s.addTenants()
	long := s.submit(ten.bob, map[string]any{"project": "probe", "command": []string{"sleep", "600"}, "accelerators": 6})
	s.wait(ten.bob, long.ID, func(j job) bool { return j.State == "running" })
	short := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sleep", "3"}, "accelerators": 2})
	s.wait(ten.alice, short.ID, func(j job) bool { return j.State == "running" })
	b1 := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sleep", "600"}, "accelerators": 4})
	b2 := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sleep", "600"}, "accelerators": 2})
	short = s.waitEnd(ten.alice, short.ID)
	j2 := s.wait(ten.alice, b2.ID, func(j job) bool { return j.StartTime != nil })
	gap := j2.StartTime.Sub(*short.EndTime)
	t.Logf("B2 started %v after the short job ended", gap.Round(time.Millisecond))
	if gap > 10*time.Second {
		t.Errorf("B2 started %v after its accelerators freed: it waited for a re-prioritisation", gap)
	}
	var j1 job
	s.mustDo(200, ten.alice, "GET", "/api/v1/jobs/"+itoa(b1.ID), nil).decode(t, &j1)
	if j1.State != "pending" {
		t.Errorf("B1 is %s: it needs the long job's accelerators and should still wait", j1.State)
	}
	for _, id := range []int64{long.ID, b1.ID, b2.ID} {
		s.do(s.admin, "POST", "/api/v1/jobs/"+itoa(id)+"/cancel", nil)
	}
}

// TestDefaultWalltimeApplied: a job that gives no walltime gets the site's
// default_walltime, and the driver ends it there.
func TestDefaultWalltimeApplied(t *testing.T) {
	cfg := `sites:
  - id: local
    kind: local
    country: DE
    driver: local
    default_walltime: 2s
    max_walltime: 1h
    pools:
      - {name: node, model: virtual, accelerators_per_node: 4, nodes: 1, cpus_per_node: 16}
`
	s := startServer(t, serverOptions{config: cfg})
	ten := s.addTenants()
	j := s.submit(ten.alice, map[string]any{"project": "rocket", "command": []string{"sleep", "120"}})
	j = s.waitEnd(ten.alice, j.ID)
	if j.State != "timeout" {
		t.Fatalf("a job without a walltime on a site with default_walltime 2s ended %s (%s), want timeout", j.State, j.Reason)
	}
	var full map[string]any
	s.mustDo(200, ten.alice, "GET", "/api/v1/jobs/"+itoa(j.ID), nil).decode(t, &full)
	spec, _ := full["spec"].(map[string]any)
	if spec["walltime"] == nil || spec["walltime"] == "" || spec["walltime"] == float64(0) {
		t.Errorf("the job's recorded walltime is %v, want the site's 2s", spec["walltime"])
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
