package daemon

import (
	"context"
	"encoding/json"
	"github.com/gigafactory/gigafactory/internal/testutil"
	"log/slog"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// syncBuffer collects a process's or a goroutine's output for the test.
type syncBuffer = testutil.SyncBuffer

// Every transition of a job is one log line with the job, its user,
// project and site: a job that runs and fails, and a pending job
// cancelled.
func TestJobTransitionsAreLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := startWith(t, t.TempDir(), nil, func(o *Options) { o.Logger = log })
	ctx := context.Background()
	jobs, _, err := h.d.Submit(ctx, []core.Job{{Project: "p", User: "alice", Spec: core.JobSpec{Command: []string{"sh", "-c", "exit 3"}, Accelerators: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	ran := jobs[0].ID
	h.wait(t, ran, func(j core.Job) bool { return j.State.Terminal() })
	// A long job, cancelled while pending or running.
	jobs, _, err = h.d.Submit(ctx, []core.Job{{Project: "q", User: "bob", Spec: core.JobSpec{Command: []string{"sleep", "60"}, Accelerators: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	waiting := jobs[0].ID
	if _, err := h.d.Cancel(ctx, waiting, "bob"); err != nil {
		t.Fatal(err)
	}
	h.wait(t, waiting, func(j core.Job) bool { return j.State.Terminal() })
	h.stop()
	h.stop = nil

	type line struct {
		Msg     string `json:"msg"`
		Job     int64  `json:"job"`
		User    string `json:"user"`
		Project string `json:"project"`
		Site    string `json:"site"`
		State   string `json:"state"`
		Exit    *int   `json:"exit"`
		By      string `json:"by"`
	}
	byJob := map[int64][]line{}
	for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", raw, err)
		}
		if strings.HasPrefix(l.Msg, "job ") {
			byJob[l.Job] = append(byJob[l.Job], l)
		}
	}
	var msgs []string
	for _, l := range byJob[int64(ran)] {
		msgs = append(msgs, l.Msg)
		if l.User != "alice" || l.Project != "p" {
			t.Errorf("%q: user %q project %q, want alice p", l.Msg, l.User, l.Project)
		}
		if l.Msg != "job submitted" && l.Site != "local" {
			t.Errorf("%q: site %q, want local", l.Msg, l.Site)
		}
		if l.Msg == "job ended" && (l.State != string(core.StateFailed) || l.Exit == nil || *l.Exit != 3) {
			t.Errorf("job ended with state %q exit %v, want failed exit 3", l.State, l.Exit)
		}
	}
	if got, want := strings.Join(msgs, ", "), "job submitted, job placed, job started, job ended"; got != want {
		t.Errorf("job %d logged %q, want %q", ran, got, want)
	}
	var cancelled bool
	for _, l := range byJob[int64(waiting)] {
		if l.User != "bob" || l.Project != "q" {
			t.Errorf("%q: user %q project %q, want bob q", l.Msg, l.User, l.Project)
		}
		if (l.Msg == "job cancelled" || l.Msg == "job cancel requested") && l.By == "bob" {
			cancelled = true
		}
	}
	if !cancelled {
		t.Errorf("the cancel of job %d was not logged with who cancelled it: %+v", waiting, byJob[int64(waiting)])
	}
}

// A batch is one line, "jobs submitted", with its count and first and last
// ids; a single job keeps its own line.
func TestBatchSubmissionIsOneLine(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := startWith(t, t.TempDir(), nil, func(o *Options) { o.Logger = log })
	ctx := context.Background()
	batch := make([]core.Job, 3)
	for i := range batch {
		batch[i] = core.Job{Project: "p", User: "alice", Spec: core.JobSpec{Command: []string{"true"}, Begin: "2099-01-01T00:00:00"}}
	}
	stored, _, err := h.d.Submit(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.stop = nil
	type line struct {
		Msg         string `json:"msg"`
		Jobs        int    `json:"jobs"`
		First, Last int64
		User        string `json:"user"`
		Project     string `json:"project"`
	}
	var got []line
	for _, raw := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", raw, err)
		}
		if strings.Contains(l.Msg, "submitted") {
			got = append(got, l)
		}
	}
	want := []line{{Msg: "jobs submitted", Jobs: 3, First: int64(stored[0].ID), Last: int64(stored[2].ID), User: "alice", Project: "p"}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("submission lines = %+v, want %+v", got, want)
	}
}
