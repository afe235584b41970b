package depend

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

func TestEvaluate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	started := t0.Add(-5 * time.Minute)
	jobs := map[string][]Ref{
		"10":   {{State: core.StateCompleted, StartTime: &started}},
		"11":   {{State: core.StateFailed, StartTime: &started}},
		"12":   {{State: core.StateRunning, StartTime: &started}},
		"13":   {{State: core.StatePending}},
		"14":   {{State: core.StateCancelled}}, // cancelled while pending
		"20":   {{State: core.StateCompleted, StartTime: &started}, {State: core.StateCompleted, StartTime: &started}},
		"21":   {{State: core.StateCompleted, StartTime: &started}, {State: core.StateFailed, StartTime: &started}},
		"22":   {{State: core.StateCompleted, StartTime: &started}, {State: core.StateRunning, StartTime: &started}},
		"20_1": {{State: core.StateCompleted, StartTime: &started}},
	}
	look := func(id string) []Ref { return jobs[id] }
	cases := []struct {
		dep       string
		singleton bool
		want      Outcome
	}{
		{"afterok:10", false, Satisfied},
		{"afterok:11", false, Never},
		{"afterok:12", false, Waiting},
		{"afterok:13", false, Waiting},
		{"afterok:14", false, Never},
		{"afterok:10:12", false, Waiting},
		{"afterok:10:11", false, Never},
		{"afternotok:11", false, Satisfied},
		{"afternotok:10", false, Never},
		{"afternotok:12", false, Waiting},
		{"afterany:10:11:14", false, Satisfied},
		{"afterany:12", false, Waiting},
		{"after:12", false, Satisfied},
		{"after:13", false, Waiting},
		{"after:14", false, Satisfied},
		{"after:12+3", false, Satisfied},
		{"after:12+10", false, Waiting},
		{"afterok:99", false, Never},
		{"afterok:20", false, Satisfied}, // a whole array: all tasks
		{"afterok:21", false, Never},
		{"afterok:22", false, Waiting},
		{"afternotok:21", false, Satisfied},
		{"afterok:20_1", false, Satisfied},
		{"afterok:10,afterok:11", false, Never},
		{"afterok:10,afterok:12", false, Waiting},
		{"afterok:11?afterok:10", false, Satisfied},
		{"afterok:11?afternotok:10", false, Never},
		{"afterok:11?afterok:12", false, Waiting},
		{"singleton", true, Waiting},
		{"singleton", false, Satisfied},
		{"singleton,afterok:10", false, Satisfied},
	}
	for _, c := range cases {
		dep, err := spec.ParseDependency(c.dep)
		if err != nil {
			t.Fatalf("%s: %v", c.dep, err)
		}
		got := Evaluate(dep, t0, look, func() bool { return c.singleton })
		if got.Outcome != c.want {
			t.Errorf("%s (singleton busy %v) = %v (%s), want %v", c.dep, c.singleton, got.Outcome, got.Why, c.want)
		}
		if got.Outcome != Satisfied && got.Why == "" {
			t.Errorf("%s: %v without a reason", c.dep, got.Outcome)
		}
	}
}

func TestAfterDelayWakes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	started := t0.Add(-5 * time.Minute)
	dep, _ := spec.ParseDependency("after:12+10")
	r := Evaluate(dep, t0, func(string) []Ref { return []Ref{{State: core.StateRunning, StartTime: &started}} }, nil)
	if want := started.Add(10 * time.Minute); !r.WakeAt.Equal(want) {
		t.Fatalf("wake at %v, want %v", r.WakeAt, want)
	}
	if r := Evaluate(dep, started.Add(10*time.Minute), func(string) []Ref { return []Ref{{State: core.StateRunning, StartTime: &started}} }, nil); r.Outcome != Satisfied {
		t.Fatalf("at the wake time: %v", r.Outcome)
	}
}

func TestNames(t *testing.T) {
	dep, err := spec.ParseDependency("afterok:1:2_3,afterany:1,singleton")
	if err != nil {
		t.Fatal(err)
	}
	got := Names(dep)
	if len(got) != 2 || got[0] != "1" || got[1] != "2_3" {
		t.Fatalf("Names = %v", got)
	}
	if !HasSingleton(dep) {
		t.Fatal("HasSingleton false")
	}
}
