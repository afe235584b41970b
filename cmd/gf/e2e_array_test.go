package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// script writes a batch script into the server's directory.
func (s *server) script(name, body string) string {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/bash\n"+body), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// arrayTasks returns gf jobs --all -o json's tasks of array id.
func (s *server) arrayTasks(id core.JobID) map[int]core.Job {
	s.t.Helper()
	out := map[int]core.Job{}
	for _, j := range s.jobs() {
		if j.ArrayTaskID != nil && j.ArrayJobID == id {
			out[*j.ArrayTaskID] = j
		}
	}
	return out
}

// An array of 100 tasks as sbatch --array makes it: ids 1234_7, gf jobs
// folds the pending tasks into one row, gf cancel ID_7 cancels one task and
// gf cancel ID all the others.
func TestE2EArray(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := s.script("sweep.sh", "#SBATCH --job-name=sweep\n#SBATCH --array=0-99\n#SBATCH --gpus=1\n#SBATCH --time=00:10:00\nsleep 300\n")
	out := s.must("submit", p)
	m := regexp.MustCompile(`^Submitted batch job (\d+) \(array (\d+)_\[0-99\], 100 tasks\)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("gf submit of an array printed %q", out)
	}
	id := core.JobID(mustAtoi(t, m[1]))
	tasks := s.arrayTasks(id)
	if len(tasks) != 100 {
		t.Fatalf("array %d has %d tasks, want 100", id, len(tasks))
	}
	if tasks[0].ID != id || tasks[99].DisplayID() != fmt.Sprintf("%d_99", id) {
		t.Errorf("task 0 is job %d (want the array's id %d); task 99 shows as %s", tasks[0].ID, id, tasks[99].DisplayID())
	}
	// The local site has 8 accelerators: 8 tasks run, 92 wait, folded.
	deadline := time.Now().Add(30 * time.Second)
	for running := 0; running < 8; {
		running = 0
		for _, j := range s.arrayTasks(id) {
			if j.State == core.StateRunning {
				running++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks running after 30 s, want 8", running)
		}
		time.Sleep(200 * time.Millisecond)
	}
	table := s.must("jobs")
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d_\[8-99\]\s+sweep\s+default\s+pending`, id)).MatchString(table) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^%d_7\s+sweep\s+default\s+running`, id)).MatchString(table) {
		t.Errorf("gf jobs does not fold the pending tasks into %d_[8-99] beside running %d_7:\n%s", id, id, table)
	}
	if n := strings.Count(table, "\n"); n != 1+8+1 {
		t.Errorf("gf jobs has %d lines, want a header, 8 running tasks and one folded row:\n%s", n, table)
	}
	if out := s.must("cancel", fmt.Sprintf("%d_7", id)); out != fmt.Sprintf("Cancelling job %d_7 (running)\n", id) {
		t.Errorf("gf cancel %d_7 printed %q", id, out)
	}
	if j := s.waitEnded(tasks[7].ID, 30*time.Second); j.State != core.StateCancelled {
		t.Errorf("task 7 ended %s", j.State)
	}
	if j := s.job(tasks[8].ID); j.State.Terminal() {
		t.Errorf("cancelling task 7 ended task 8 too: %s", j.State)
	}
	out = s.must("cancel", id.String())
	if !strings.HasPrefix(out, fmt.Sprintf("Cancelled array %d: ", id)) || !strings.Contains(out, "of 100 tasks") {
		t.Errorf("gf cancel %d printed %q", id, out)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		live := 0
		for _, j := range s.arrayTasks(id) {
			if !j.State.Terminal() {
				live++
			} else if j.State != core.StateCancelled {
				t.Fatalf("task %s ended %s, want cancelled", j.DisplayID(), j.State)
			}
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks still live 60 s after gf cancel %d", live, id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := s.gf("cancel", "12_x"); r.code != 2 || !strings.Contains(r.stderr, "42_7 for task 7 of array 42") {
		t.Errorf("gf cancel 12_x: %s", r)
	}
}

// A chain of three afterok jobs whose first fails: the second and the last
// end DependencyNeverSatisfied without running, and the waiting one says
// Dependency meanwhile.
func TestE2EDependencyChain(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	first := s.submit(s.script("one.sh", "#SBATCH --gpus=1\nsleep 2\nexit 3\n"))
	second := s.submit("--dependency", "afterok:"+first.String(), s.script("two.sh", "#SBATCH --gpus=1\necho two\n"))
	third := s.submit(s.script("three.sh", fmt.Sprintf("#SBATCH --gpus=1\n#SBATCH --dependency=afterok:%d\necho three\n", second)))
	var doc struct {
		Job core.Job `json:"job"`
	}
	if err := json.Unmarshal([]byte(s.must("show", third.String(), "-o", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Job.State != core.StatePending || doc.Job.Reason != core.ReasonDependency {
		t.Errorf("job %d is %s with reason %q, want pending with %q", third, doc.Job.State, doc.Job.Reason, core.ReasonDependency)
	}
	if j := s.waitEnded(first, 60*time.Second); j.State != core.StateFailed {
		t.Fatalf("first job ended %s, want failed", j.State)
	}
	for _, id := range []core.JobID{second, third} {
		j := s.waitEnded(id, 30*time.Second)
		if j.State != core.StateFailed || j.Reason != core.ReasonDependencyNeverSatisfied || j.StartTime != nil {
			t.Errorf("job %d: %s %q (started %v), want failed %s without starting", id, j.State, j.Reason, j.StartTime, core.ReasonDependencyNeverSatisfied)
		}
	}
	if r := s.gf("submit", "--dependency", "afterok:999999", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "job 999999 does not exist") {
		t.Errorf("a dependency on a missing job: %s", r)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
