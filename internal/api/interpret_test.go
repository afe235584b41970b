package api

import (
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestSubmitInterpretsSlurmDirectives: what a Slurm script names in its own
// site's terms is mapped (a site's QoS through qos_map, a partition that is
// a site, an upper-case account) or kept with a warning that says what
// happens instead; an unknown project lists the caller's.
func TestSubmitInterpretsSlurmDirectives(t *testing.T) {
	sites := localSite(4)
	sites[0].QoSMap = map[string]string{"boost_qos_dbg": core.QoSPlayground}
	ts := newTestServer(t, sites)
	for _, c := range []struct {
		name     string
		body     string
		status   int
		qos      string // the job's QoS
		site     string // the job's pinned site
		project  string
		warnings []string // each must appear in one warning
		problem  string   // in the 422's detail
	}{
		{name: "site qos mapped", body: `{"command":["true"],"site_qos":"boost_qos_dbg"}`, status: 201, qos: core.QoSPlayground},
		{name: "site qos unmapped", body: `{"command":["true"],"site_qos":"acc_debug"}`, status: 201, warnings: []string{`qos "acc_debug": not a Gigafactory QoS`}},
		{name: "partition is a site", body: `{"command":["true"],"partition":"local"}`, status: 201, site: "local"},
		{name: "partition is a pool", body: `{"command":["true"],"partition":"node"}`, status: 201},
		{name: "partition unknown", body: `{"command":["true"],"partition":"standard-g"}`, status: 201, warnings: []string{`partition "standard-g": no site or pool`}},
		{name: "mail", body: `{"command":["true"],"mail_type":"END","mail_user":"a@b.eu"}`, status: 201, warnings: []string{"no mailer"}},
		{name: "submit dir outside the roots", body: `{"command":["true"],"submit_dir":"/home/ada/run"}`, status: 201, warnings: []string{"runs in its own directory, not in /home/ada/run"}},
		{name: "account in upper case", body: `{"command":["true"],"project":"ROCKET"}`, status: 201, project: "rocket"},
		{name: "unknown project", body: `{"command":["true"],"project":"nope"}`, status: 422, problem: `unknown project "nope": your projects are default, rocket (gf projects)`},
		{name: "dependency on a missing job", body: `{"command":["true"],"dependency":{"conditions":[{"type":"afterok","jobs":[{"id":"9999"}]}]}}`, status: 422, problem: "job 9999 does not exist"},
	} {
		var j core.Job
		var p struct {
			Detail string `json:"detail"`
		}
		var out any = &j
		if c.status != 201 {
			out = &p
		}
		if got := ts.do(t, ts.admin, "POST", "/api/v1/jobs", c.body, out); got != c.status {
			t.Errorf("%s: status %d, want %d", c.name, got, c.status)
			continue
		}
		if c.status != 201 {
			if !strings.Contains(p.Detail, c.problem) {
				t.Errorf("%s: problem %q lacks %q", c.name, p.Detail, c.problem)
			}
			continue
		}
		if c.qos != "" && j.Spec.QoS != c.qos {
			t.Errorf("%s: qos %q, want %q", c.name, j.Spec.QoS, c.qos)
		}
		if c.site != "" && j.Spec.Site != c.site {
			t.Errorf("%s: site %q, want %q", c.name, j.Spec.Site, c.site)
		}
		if c.project != "" && j.Project != c.project {
			t.Errorf("%s: project %q, want %q", c.name, j.Project, c.project)
		}
		all := strings.Join(j.Warnings, "\n")
		for _, w := range c.warnings {
			if !strings.Contains(all, w) {
				t.Errorf("%s: warnings %q lack %q", c.name, j.Warnings, w)
			}
		}
		if len(c.warnings) == 0 && len(j.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %q", c.name, j.Warnings)
		}
	}
}
