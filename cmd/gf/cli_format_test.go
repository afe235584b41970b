package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The -update flag rewrites testdata/*.golden:
//
//	go test ./cmd/gf -run Golden -update
//
// It is registered in init, after every package-level variable, so that
// another test file of this package may declare it too.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

// golden compares got with testdata/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if flag.Lookup("update").Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// The fixed instant golden tables are rendered at, in UTC.
var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func intp(n int) *int { return &n }

func init() { time.Local = time.UTC } // golden timestamps must not depend on the machine's zone

// fixtureJobs covers every kind of row gf jobs shows.
func fixtureJobs() []core.Job {
	return []core.Job{
		{ID: 12, Name: "llama-ft", Project: "nlp", Org: "tum", User: "alice", State: core.StatePending,
			Spec:   core.JobSpec{Accelerators: 64000, Model: "h100", Nodes: 8, Walltime: core.Duration(24 * time.Hour)},
			Reason: "Resources: needs 64 h100, 16 free", SubmitTime: *at(-95 * time.Minute), EstimatedStart: at(3 * time.Hour)},
		{ID: 11, Name: "sweep", Project: "default", User: "admin", State: core.StateRunning, Site: "local",
			Spec:       core.JobSpec{Accelerators: 500},
			SubmitTime: *at(-2 * time.Hour), StartTime: at(-(26*time.Hour + 3*time.Minute + 4*time.Second))},
		{ID: 10, Name: "sh", Project: "default", User: "admin", State: core.StateFailed, Site: "local",
			Spec: core.JobSpec{Accelerators: 1000}, Reason: "exit code 3", ExitCode: intp(3),
			SubmitTime: *at(-time.Hour), StartTime: at(-59 * time.Minute), EndTime: at(-58*time.Minute - 30*time.Second)},
		{ID: 9, Name: "never", Project: "default", User: "bob", State: core.StateCancelled,
			Spec: core.JobSpec{}, Reason: "cancelled by bob", SubmitTime: *at(-time.Hour), EndTime: at(-time.Minute)},
	}
}

func explanation(t *testing.T, doc string) *client.Explanation {
	t.Helper()
	var e client.Explanation
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestGoldenJobsTable(t *testing.T) {
	prio := map[core.JobID]*client.Explanation{
		12: explanation(t, `{"job": {"id": 12}, "status": {"id": 12, "state": "pending", "priority": 1234.5678,
			"reasons": ["Resources"]}, "priority_factors": {"age": 0.25, "fairshare": 0.5, "qos": 1, "size": 0.125}}`),
	}
	for name, v := range map[string]jobsView{
		"jobs":                    {},
		"jobs_start":              {start: true},
		"jobs_priority":           {explain: prio},
		"jobs_priority_breakdown": {explain: breakdownExplanations(t)},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeJobsTable(&b, fixtureJobs(), t0, v); err != nil {
				t.Fatal(err)
			}
			golden(t, name, b.String())
		})
	}
}

// breakdownExplanations are explain answers in the shape gf serve sends
// (GET /api/v1/jobs/{id}/explain): the priority as a list of factors.
func breakdownExplanations(t *testing.T) map[core.JobID]*client.Explanation {
	return map[core.JobID]*client.Explanation{
		12: explanation(t, `{"job": {"id": 12}, "known": true, "status": {"id": 12, "state": "pending", "priority": 1700,
			"reasons": ["Resources"]}, "priority": {"id": 12, "priority": 1700, "factors": [
			{"name": "age", "value": 0.5, "weight": 1000, "points": 500},
			{"name": "fairshare", "value": 0.8, "weight": 1000, "points": 800, "note": "nlp: 20% of its share used"},
			{"name": "qos", "value": 0.4, "weight": 1000, "points": 400},
			{"name": "size", "value": 0, "weight": 100, "points": 0}]},
			"route": {"site": "local", "moves": 0, "why": "only site"}}`),
	}
}

// TestJobsPriorityJSON checks that gf jobs --priority -o json is the API's
// job objects, each pending one with its priority factors.
func TestJobsPriorityJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, withPriorities(fixtureJobs(), jobsView{explain: breakdownExplanations(t)})); err != nil {
		t.Fatal(err)
	}
	var got []map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(got) != 4 {
		t.Fatalf("got %d jobs, want 4", len(got))
	}
	var prio priorityBreakdown
	if err := json.Unmarshal(got[0]["priority"], &prio); err != nil {
		t.Fatalf("job 12's priority: %v in %s", err, got[0]["priority"])
	}
	want := priorityBreakdown{Priority: 1700, Factors: []priorityFactor{
		{Name: "age", Value: 0.5, Weight: 1000, Points: 500},
		{Name: "fairshare", Value: 0.8, Weight: 1000, Points: 800, Note: "nlp: 20% of its share used"},
		{Name: "qos", Value: 0.4, Weight: 1000, Points: 400},
		{Name: "size", Value: 0, Weight: 100, Points: 0},
	}}
	if diff := cmp.Diff(want, prio); diff != "" {
		t.Errorf("priority (-want +got):\n%s", diff)
	}
	for _, k := range []string{"id", "name", "state", "spec"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("job 12 lacks the job member %q beside priority", k)
		}
	}
	if _, ok := got[1]["priority"]; ok {
		t.Errorf("running job 11 has a priority member: %s", got[1]["priority"])
	}
}

func TestGoldenJobDetail(t *testing.T) {
	j := fixtureJobs()[2]
	j.Org = "default"
	j.Spec.Command = []string{"sh", "-c", "echo hello; exit 3"}
	j.Spec.Env = map[string]string{"B": "2", "A": "1"}
	j.Spec.Residency = []string{"DE", "FR"}
	j.Spec.Preemptible = true
	j.Alloc = &core.Allocation{Site: "local", Pool: "virtual", Nodes: []core.NodeAlloc{{Node: "localhost", Accels: []int{3}}}}
	j.Handle = "4242"
	events := []core.Event{
		{JobID: 10, Seq: 1, Time: *at(-time.Hour), Type: "submitted", State: core.StatePending},
		{JobID: 10, Seq: 2, Time: *at(-59 * time.Minute), Type: "started", State: core.StateRunning, Message: "on localhost[3]"},
		{JobID: 10, Seq: 3, Time: *at(-58*time.Minute - 30*time.Second), Type: "ended", State: core.StateFailed, Message: "exit code 3"},
	}
	var b bytes.Buffer
	if err := writeJobDetail(&b, &j, events, t0); err != nil {
		t.Fatal(err)
	}
	golden(t, "show", b.String())
}

func TestGoldenExplain(t *testing.T) {
	e := explanation(t, `{"job": {"id": 12, "name": "llama-ft", "state": "pending", "submit_time": "2026-11-29T08:25:00Z"},
		"status": {"id": 12, "state": "pending", "reason": "Resources", "reasons": ["local: 8 free, needs 64", "eu-hpc: model a100 not acceptable"],
		"estimated_start": "2026-11-29T13:00:00Z", "priority": 1234.5},
		"priority_factors": {"age": 0.25, "fairshare": 0.5}, "queue_position": 3}`)
	var b bytes.Buffer
	if err := writeExplanation(&b, e, t0); err != nil {
		t.Fatal(err)
	}
	golden(t, "explain", b.String())

	// The server may nest the status under "explanation"; gf shows the same.
	nested := explanation(t, `{"job": {"id": 12, "name": "llama-ft", "state": "pending"},
		"explanation": {"id": 12, "known": true, "status": {"id": 12, "state": "pending", "reason": "Resources",
		"priority": 7, "factors": {"age": 0.5}}}}`)
	if nested.Status.Priority != 7 || nested.Status.Reason != "Resources" {
		t.Errorf("nested status = %+v, want priority 7 and reason Resources", nested.Status)
	}
	b.Reset()
	if err := writeExplanation(&b, nested, t0); err != nil {
		t.Fatal(err)
	}
	golden(t, "explain_nested", b.String())
	if got := priorityFactors(nested); len(got) != 1 || got[0].path != "AGE" || got[0].value != "0.5" {
		t.Errorf("priorityFactors(nested) = %+v, want AGE 0.5", got)
	}
}

func fixtureSites() []core.Site {
	return []core.Site{
		{ID: "local", Name: "This machine", Kind: core.SiteLocal, Country: "DE", State: core.SiteActive, Driver: "local",
			Pools: []core.Pool{{Name: "virtual", Model: "virtual", AccelPerNode: 8, Nodes: 1}}},
		{ID: "jupiter", Name: "JUPITER", Kind: core.SiteGigafactory, Country: "DE", State: core.SiteDraining, Driver: "slurm",
			PricePerAccelHour: 2.4, PUE: 1.08, CarbonGPerKWh: 380, DefaultWalltime: core.Duration(time.Hour), MaxWalltime: core.Duration(48 * time.Hour),
			DriverOptions: map[string]string{"partition": "booster", "cluster": "jupiter"}, Accelerators: 24000,
			Pools: []core.Pool{
				{Name: "booster", Model: "gh200", AccelPerNode: 4, Nodes: 5000, NodesPerBlock: 32, BlocksPerPod: 16, CPUsPerNode: 288, MemMiBPerNode: 491520, PowerW: 680},
				{Name: "dev", Model: "a100", AccelPerNode: 4, Nodes: 1000},
			}},
	}
}

func TestGoldenSites(t *testing.T) {
	var b bytes.Buffer
	if err := writeSitesTable(&b, fixtureSites()); err != nil {
		t.Fatal(err)
	}
	golden(t, "sites", b.String())
	b.Reset()
	s := fixtureSites()[1]
	if err := writeSiteDetail(&b, &s); err != nil {
		t.Fatal(err)
	}
	golden(t, "site", b.String())
}

func TestGoldenAccounts(t *testing.T) {
	var b bytes.Buffer
	_ = writeOrgsTable(&b, []core.Org{{Name: "default", Kind: core.OrgResearch, Country: "DE", CreatedAt: t0}, {Name: "acme", Kind: core.OrgSME, Country: "FR"}})
	b.WriteString("\n")
	_ = writeProjectsTable(&b, []core.Project{{Name: "default", Org: "default", CreatedAt: t0}, {Name: "nlp", Org: "tum", BudgetAccelHrs: 1500.5, Description: "language models"}})
	b.WriteString("\n")
	_ = writeUsersTable(&b, []core.User{{Name: "admin", Role: core.RoleAdmin, CreatedAt: t0}, {Name: "alice", Role: core.RoleUser, Org: "tum", Email: "alice@tum.de"}})
	b.WriteString("\n")
	_ = writeCreatedUser(&b, &client.CreatedUser{User: core.User{Name: "alice", Org: "tum", Role: core.RoleUser}, Token: "gf_secret"})
	golden(t, "accounts", b.String())
}

func TestGoldenYAML(t *testing.T) {
	// The YAML is the JSON's data in the JSON's key order, with strings that
	// would read as numbers or booleans quoted.
	j := fixtureJobs()[2]
	j.Name = "8"
	j.Spec.Env = map[string]string{"FLAG": "true", "EMPTY": ""}
	var b bytes.Buffer
	if err := writeYAML(&b, j); err != nil {
		t.Fatal(err)
	}
	golden(t, "job_yaml", b.String())
}

func TestSlurmDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                  "0:00",
		-time.Second:                       "0:00",
		59 * time.Second:                   "0:59",
		61 * time.Second:                   "1:01",
		time.Hour + 2*time.Minute + 3:      "1:02:00",
		25*time.Hour + 3*time.Minute + 4e9: "1-01:03:04",
	} {
		if got := slurmDuration(d); got != want {
			t.Errorf("slurmDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:               "45s",
		5 * time.Minute:                "5m",
		5*time.Minute + 10*time.Second: "5m10s",
		3*time.Hour + 5*time.Minute:    "3h5m",
		10 * time.Hour:                 "10h",
		50 * time.Hour:                 "2d2h",
		-(90 * time.Second):            "1m30s",
		48 * time.Hour:                 "2d",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseStates(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []core.State
		wantErr string
	}{
		"names":        {in: "pending,running", want: []core.State{core.StatePending, core.StateRunning}},
		"squeue codes": {in: "PD,r,CA", want: []core.State{core.StatePending, core.StateRunning, core.StateCancelled}},
		"spaces":       {in: " completed , ", want: []core.State{core.StateCompleted}},
		"unknown":      {in: "pending,sleeping", wantErr: `unknown state "sleeping"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseStates(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseStates(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseStates(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"sh", "-c", "echo 'hi' $X", "", "a=b"})
	want := `sh -c 'echo '\''hi'\'' $X' '' a=b`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}
