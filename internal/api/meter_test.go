package api

import (
	"fmt"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Usage reports and per-job meters: each tenant sees its own
// organisation's runs only, a global admin everyone's, the report's rows
// add up to its total, and a bad grouping is refused naming the field.
func TestUsageEndpoints(t *testing.T) {
	tn := newTenants(t)
	run := func(user, project string) core.JobID {
		var j core.Job
		body := fmt.Sprintf(`{"command":["true"],"accelerators":1,"project":%q}`, project)
		if got := tn.do(t, tn.tokens[user], "POST", "/api/v1/jobs", body, &j); got != 201 {
			t.Fatalf("%s submits to %s: %d", user, project, got)
		}
		tn.waitState(t, j.ID, core.State.Terminal)
		return j.ID
	}
	a1, a2, b1 := run(userA, "rocket"), run(userA, "rocket"), run(userB, "bproj")

	tests := map[string]struct {
		caller, query string
		status        int
		field         string       // the field a 422 names
		jobs          []core.JobID // of /usage/jobs, in order
		keys          []string     // of /usage/report
	}{
		"a tenant sees its own":           {caller: userA, query: "by=project", status: 200, jobs: []core.JobID{a1, a2}, keys: []string{"rocket"}},
		"the other tenant its own":        {caller: userB, query: "by=org", status: 200, jobs: []core.JobID{b1}, keys: []string{"beta"}},
		"an admin sees all":               {caller: globalAdmin, query: "by=org", status: 200, jobs: []core.JobID{a1, a2, b1}, keys: []string{"acme", "beta"}},
		"an admin may pick one org":       {caller: globalAdmin, query: "by=org_kind&org=beta", status: 200, jobs: []core.JobID{b1}, keys: []string{"sme"}},
		"kind is org_kind":                {caller: userA, query: "by=kind", status: 200, jobs: []core.JobID{a1, a2}, keys: []string{"startup"}},
		"by period of a day":              {caller: userA, query: "by=period&period=day&from=2000-01-01", status: 200, jobs: []core.JobID{a1, a2}},
		"nothing before 2000":             {caller: userA, query: "by=site&to=2000-01-01T00:00:00Z", status: 200, jobs: []core.JobID{}, keys: []string{}},
		"another tenant's org: not found": {caller: userA, query: "by=project&org=beta", status: 404},
		"bad grouping names by":           {caller: userA, query: "by=colour", status: 422, field: "by"},
		"bad period names period":         {caller: userA, query: "by=period&period=week", status: 422, field: "period"},
		"bad time names from":             {caller: userA, query: "by=site&from=yesterday", status: 422, field: "from"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var rep usageReport
			var prob Problem
			out := any(&rep)
			if tc.status != 200 {
				out = &prob
			}
			if got := tn.do(t, tn.tokens[tc.caller], "GET", "/api/v1/usage/report?"+tc.query, nil, out); got != tc.status {
				t.Fatalf("report: %d, want %d (%+v)", got, tc.status, prob)
			}
			if tc.status != 200 {
				if tc.field != "" && (len(prob.Errors) == 0 || prob.Errors[0].Field != tc.field) {
					t.Errorf("problem %+v does not name %q", prob, tc.field)
				}
				return
			}
			var sum core.MeterRow
			for _, r := range rep.Rows {
				sum.Meters += r.Meters
				sum.AccelHours += r.AccelHours
			}
			if sum.Meters != rep.Total.Meters || sum.Meters != len(tc.jobs) || rep.Total.Jobs != len(tc.jobs) {
				t.Errorf("rows count %d runs, total %d runs of %d jobs; want %d", sum.Meters, rep.Total.Meters, rep.Total.Jobs, len(tc.jobs))
			}
			if diff := sum.AccelHours - rep.Total.AccelHours; diff > 1e-12 || diff < -1e-12 {
				t.Errorf("rows' accelerator-hours %v, total %v", sum.AccelHours, rep.Total.AccelHours)
			}
			if tc.keys != nil {
				keys := []string{}
				for _, r := range rep.Rows {
					keys = append(keys, r.Key)
				}
				if fmt.Sprint(keys) != fmt.Sprint(tc.keys) {
					t.Errorf("keys %v, want %v", keys, tc.keys)
				}
			}
			var l list[core.Meter]
			if got := tn.do(t, tn.tokens[tc.caller], "GET", "/api/v1/usage/jobs?"+tc.query, nil, &l); got != 200 {
				t.Fatalf("jobs: %d", got)
			}
			ids := []core.JobID{}
			for _, m := range l.Items {
				ids = append(ids, m.JobID)
				if m.Public+m.Private != m.Cost || m.State != string(core.StateCompleted) || m.AccelHours <= 0 {
					t.Errorf("meter %+v", m)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.jobs) {
				t.Errorf("jobs %v, want %v", ids, tc.jobs)
			}
		})
	}
}
