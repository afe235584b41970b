package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gigafactory/gigafactory/internal/browsertest"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sim"
)

// moreStack is a stack with the access process walked through the portal
// (a fast-lane call, a proposal written with the form, a review by a
// reviewer of another organisation, an award of 1,500 hours made with the
// form), a job of the default project that declared a model and ran on a
// local site (so there are meters and a model in the AI Act ledger), and
// a twin report made by really running the twin on a tiny trace.
type moreStack struct {
	*stack
	admin, reviewer, outsider *browser
	proposal                  core.Proposal
}

func newMoreStack(t *testing.T) *moreStack {
	t.Helper()
	s := newStack(t)
	ctx := t.Context()
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	call, err := s.ac.CreateCall(ctx, client.NewCall{Title: "AI Factory fast lane", Mode: core.QoSFastLane, State: core.CallOpen,
		Models: []string{"virtual"}, TotalHours: 10_000, Closes: time.Now().AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	s.org(t, "uni", "DE")
	s.org(t, "other", "FR")
	m := &moreStack{stack: s, admin: s.login(t, s.admin)}
	m.reviewer = s.login(t, s.user(t, client.NewUser{Name: "rex", Org: "uni", Role: core.RoleReviewer}))
	m.outsider = s.login(t, s.user(t, client.NewUser{Name: "olga", Org: "other"}))

	// The proposal, with the form.
	status, body := m.admin.post("/access/proposals", url.Values{"call": {call.ID}, "project": {"default"}, "title": {"Weld defect detection"},
		"abstract": {"Fine-tune a vision transformer"}, "hours": {"virtual=2,000"}, "start": {day(0)}, "end": {day(90)}, "submit": {"1"}}, true)
	if status != http.StatusOK || !strings.Contains(body, "written (submitted)") {
		t.Fatalf("POST /access/proposals: %d\n%s", status, body)
	}
	props, err := s.ac.Proposals(ctx, client.ProposalFilter{})
	if err != nil || len(props) != 1 || props[0].Hours["virtual"] != 2000 || props[0].State != core.ProposalSubmitted {
		t.Fatalf("proposals after the form: %+v %v", props, err)
	}
	m.proposal = props[0]
	id := m.proposal.ID
	if _, err := s.ac.AssignReviewer(ctx, id, "rex"); err != nil {
		t.Fatal(err)
	}

	// The review, with the reviewer's form.
	if _, body := m.reviewer.get("/access"); !strings.Contains(body, `action="/access/proposals/`+id+`/review"`) {
		t.Fatalf("the reviewer's queue has no form for %s:\n%s", id, body)
	}
	status, body = m.reviewer.post("/access/proposals/"+id+"/review", url.Values{"technical": {"4"}, "comments": {"feasible"}}, true)
	if status != http.StatusOK || !strings.Contains(body, "Review of "+id+" recorded.") {
		t.Fatalf("POST review: %d\n%s", status, body)
	}

	// The award, with the allocator's form.
	status, body = m.admin.post("/access/proposals/"+id+"/award", url.Values{"hours:virtual": {"1,500"}, "valid_from": {day(0)}, "valid_to": {day(90)}}, true)
	if status != http.StatusOK || !strings.Contains(body, "Award "+id+" made to project default: virtual 1,500 h.") {
		t.Fatalf("POST award: %d\n%s", status, body)
	}
	if aws, err := s.ac.Awards(ctx, "default"); err != nil || len(aws) != 1 || aws[0].Hours["virtual"] != 1500 {
		t.Fatalf("awards after the form: %+v %v", aws, err)
	}

	// A job that declares a model and runs on a local site.
	j, err := s.ac.Submit(ctx, core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Project: "default",
		Lineage: &core.ModelLineage{Model: "weld-vit", Parameters: 1e9, Tokens: 1e10}}, "")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if j, err = s.ac.WaitJob(wctx, j.ID, 20*time.Millisecond); err != nil || j.State != core.StateCompleted {
		t.Fatalf("job: %+v %v", j, err)
	}
	for {
		rep, err := s.ac.UsageReport(ctx, client.UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total.Meters > 0 {
			break
		}
		if wctx.Err() != nil {
			t.Fatal("no meter after the job ended")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A twin report, and a summary.json outside the twin's directory that
	// no name may reach.
	writeTwin(t, filepath.Join(s.dir, "twin", "tiny"))
	if err := os.MkdirAll(filepath.Join(s.dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(s.dir, "x", "summary.json"), []byte(`{"mode":"replay","trace":"OUTSIDE-THE-TWIN-DIR"}`), 0o644))
	return m
}

// writeTwin runs the twin on a tiny trace, writing its report to out.
func writeTwin(t *testing.T, out string) {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "tiny.csv")
	must(t, os.WriteFile(trace, []byte("submit_s,duration_s,accelerators,tenant\n0,3600,8,a\n60,7200,16,b\n120,600,1,a\n600,1800,4,c\n"), 0o644))
	if _, err := sim.Run(sim.Options{Trace: "csv:" + trace, Network: "philly", Sites: sim.PhillyCluster(), Seeds: []uint64{1},
		Policies: []string{sim.PolicyFIFO, sim.PolicyGigafactory}, Out: out, NoJobsCSV: true, Deterministic: true}); err != nil {
		t.Fatal(err)
	}
}

func TestMoreViews(t *testing.T) {
	m := newMoreStack(t)
	id := m.proposal.ID
	for name, c := range map[string]struct {
		b      *browser
		path   string
		status int
		want   []string
		absent []string
	}{
		"access, admin": {m.admin, "/access", 200, []string{"<h1>Access to compute</h1>", id, "Weld defect detection", "awarded",
			"1,500 of 10,000 accelerator-hours awarded (15.0 %)", "virtual 2,000 h", "virtual 1,500 h", `<caption>Proposals to call`, `name="csrf"`}, nil},
		"access, reviewer": {m.reviewer, "/access", 200, []string{"My review queue", "No proposal is assigned to you."}, nil},
		"access, other organisation": {m.outsider, "/access", 200, []string{"AI Factory fast lane"},
			[]string{id, "Weld defect detection", "Rankings", "My review queue"}},
		"usage, admin": {m.admin, "/usage", 200, []string{"<h1>Usage and co-funding</h1>", `<th scope="row">default</th>`, `<rect class="bar"`,
			"kWh", "kg CO₂e", "EUR", "Public share", `<caption>Usage by project`}, nil},
		"usage by site":              {m.admin, "/usage?by=site", 200, []string{`<th scope="row">gf-`, `<option value="site" selected>`}, nil},
		"usage, bad grouping":        {m.admin, "/usage?by=colour", 422, []string{"by"}, nil},
		"usage, other organisation":  {m.outsider, "/usage", 200, []string{"No run that you may see"}, []string{`<th scope="row">default</th>`}},
		"ai act, admin":              {m.admin, "/ai-act", 200, []string{"<h1>AI Act ledger</h1>", "weld-vit", "× 10", `href="/ai-act/weld-vit"`, "1.00 × 10²³ FLOP"}, nil},
		"ai act report":              {m.admin, "/ai-act/weld-vit", 200, []string{"AI Act report: model weld-vit", "Training compute", "Regulation (EU) 2024/1689", "1.00 × 10⁹"}, nil},
		"ai act, unknown model":      {m.admin, "/ai-act/nope", 404, []string{"nope"}, nil},
		"ai act, other organisation": {m.outsider, "/ai-act", 200, []string{"No model that you may see"}, []string{"weld-vit"}},
		"ai act report, other org":   {m.outsider, "/ai-act/weld-vit", 404, nil, []string{"Training compute"}},
		"audit, admin":               {m.admin, "/audit", 200, []string{"<h1>Audit log</h1>", "<strong>OK:</strong>", "<td>rex</td>", "<td>admin</td>"}, nil},
		"audit, filtered": {m.admin, "/audit?actor=rex", 200, []string{"<td>rex</td>", `value="rex"`, "matching the filter"},
			[]string{"<td>admin</td>"}},
		"audit, not an admin": {m.outsider, "/audit", 403, []string{"Error:"}, []string{"<td>admin</td>", "OK:"}},
		"twin":                {m.admin, "/twin", 200, []string{"<h1>Digital twin</h1>", `href="/twin/tiny"`, `<th scope="row">fifo</th>`, `<th scope="row">gigafactory</th>`, "csv:"}, []string{"OUTSIDE-THE-TWIN-DIR"}},
		"twin report":         {m.admin, "/twin/tiny", 200, []string{"Twin report tiny", `<th scope="row">fifo</th>`, "Assumptions", "2,488 accelerators"}, nil},
		"twin, escape":        {m.admin, "/twin/..%2Fx", 404, nil, []string{"OUTSIDE-THE-TWIN-DIR"}},
		"twin, dot dot":       {m.admin, "/twin/..", 0, nil, []string{"OUTSIDE-THE-TWIN-DIR"}},
		"twin, unknown":       {m.admin, "/twin/nope", 404, []string{"There is no report nope"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := c.b.get(c.path)
			if c.status != 0 && status != c.status {
				t.Errorf("GET %s: %d, want %d\n%s", c.path, status, c.status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: no %q in\n%s", c.path, w, body)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(body, a) {
					t.Errorf("GET %s: %q shown", c.path, a)
				}
			}
		})
	}
}

// A form the portal cannot read, or the API refuses, is shown on the
// access page with the field named and the values kept.
func TestAccessFormErrors(t *testing.T) {
	m := newMoreStack(t)
	id := m.proposal.ID
	for name, c := range map[string]struct {
		path   string
		form   url.Values
		status int
		want   []string
	}{
		"hours not a number": {"/access/proposals", url.Values{"call": {m.proposal.Call}, "project": {"default"}, "title": {"Keep this title"},
			"hours": {"virtual=lots"}, "start": {"2026-01-01"}, "end": {"2026-02-01"}}, 422, []string{"hours.virtual", `value="Keep this title"`, `value="virtual=lots"`}},
		"no date": {"/access/proposals", url.Values{"call": {m.proposal.Call}, "project": {"default"}, "title": {"t"}, "hours": {"virtual=1"}}, 422, []string{"start: required"}},
		"the API refuses": {"/access/proposals", url.Values{"call": {"EHPC-AIF-1999FL01"}, "project": {"default"}, "title": {"Another"},
			"hours": {"virtual=1"}, "start": {"2026-01-01"}, "end": {"2026-02-01"}}, 422, []string{"call", `value="Another"`}},
		"awarded twice": {"/access/proposals/" + id + "/award", url.Values{"hours:virtual": {"10"}, "valid_from": {"2026-01-01"}, "valid_to": {"2027-01-01"}},
			409, []string{"is awarded"}},
		"bad score": {"/access/proposals/" + id + "/review", url.Values{"technical": {"four"}}, 422, []string{"technical"}},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := m.admin.post(c.path, c.form, true)
			if status != c.status {
				t.Errorf("POST %s: %d, want %d\n%s", c.path, status, c.status, body)
			}
			for _, w := range append(c.want, `class="error"`, "<h1>Access to compute</h1>") {
				if !strings.Contains(body, w) {
					t.Errorf("POST %s: no %q in\n%s", c.path, w, body)
				}
			}
		})
	}
	// Nothing was written by the failed forms.
	if props, _ := m.ac.Proposals(t.Context(), client.ProposalFilter{}); len(props) != 1 {
		t.Errorf("%d proposals after failed forms, want 1", len(props))
	}
}

// The twin's list reads a summary.json written from the sim types too,
// newest first, and a folder without one is not a report.
func TestTwinList(t *testing.T) {
	s := newStack(t)
	b := s.login(t, s.admin)
	if _, body := b.get("/twin"); !strings.Contains(body, "knows no twin report") || !strings.Contains(body, "--out ") {
		t.Fatalf("no twin dir: want the how-to\n%s", body)
	}
	ratio := 0.42
	for i, name := range []string{"older", "newer"} {
		dir := filepath.Join(s.dir, "twin", name)
		must(t, os.MkdirAll(dir, 0o755))
		sum := sim.Summary{Mode: "placement", Trace: "openb:" + name, Jobs: 12345, AllocationRatio: &ratio,
			Placement: []sim.PlacementResult{{Policy: "fgd", AllocationRatio: ratio}}}
		raw, _ := json.Marshal(sum)
		f := filepath.Join(dir, "summary.json")
		must(t, os.WriteFile(f, raw, 0o644))
		at := time.Now().Add(time.Duration(i-2) * time.Hour)
		must(t, os.Chtimes(f, at, at))
	}
	must(t, os.MkdirAll(filepath.Join(s.dir, "twin", "empty"), 0o755))
	_, body := b.get("/twin")
	older, newer := strings.Index(body, `href="/twin/older"`), strings.Index(body, `href="/twin/newer"`)
	if older < 0 || newer < 0 || newer > older {
		t.Errorf("want newer listed before older: %d %d\n%s", newer, older, body)
	}
	for _, w := range []string{"12,345", "42.0 %"} {
		if !strings.Contains(body, w) {
			t.Errorf("no %q in\n%s", w, body)
		}
	}
	if strings.Contains(body, `href="/twin/empty"`) {
		t.Error("a folder without summary.json is listed")
	}
}

// The five views in Chromium: axe-core finds no serious violation on any
// of them (forms of a reviewer and an allocator included), no page asks
// another host, and none logs a console error (a CSP violation is one).
func TestMoreViewsInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	t.Parallel() // the browser tests mostly wait: they overlap
	browsertest.EnsureAxe(t)
	m := newMoreStack(t)
	ctx := t.Context()
	// A second proposal, assigned and not yet reviewed: the reviewer's
	// form and the allocator's award form show.
	day := time.Now().UTC()
	p2, err := m.ac.CreateProposal(ctx, client.NewProposal{Call: m.proposal.Call, Project: "default", Title: "Second", Hours: map[string]float64{"virtual": 100},
		Start: day, End: day.AddDate(0, 1, 0), Submit: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ac.AssignReviewer(ctx, p2.ID, "rex"); err != nil {
		t.Fatal(err)
	}
	ritaToken := m.user(t, client.NewUser{Name: "rita", Org: "uni", Role: core.RoleReviewer})
	if _, err := m.ac.AssignReviewer(ctx, p2.ID, "rita"); err != nil {
		t.Fatal(err)
	}
	browsers := map[string]*browsertest.Browser{}
	for _, c := range []struct {
		token, path, wait, name string
	}{
		{m.stack.admin, "/access", "Award " + p2.ID, "access"},
		{m.stack.admin, "/usage", "Accelerator-hours by project", "usage"},
		{m.stack.admin, "/usage?by=period&period=day", "Accelerator-hours by period", "usage-by-day"},
		{m.stack.admin, "/ai-act", "weld-vit", "ai-act"},
		{m.stack.admin, "/ai-act/weld-vit", "Training compute", "ai-act-report"},
		{m.stack.admin, "/audit", "OK:", "audit"},
		{m.stack.admin, "/twin", "tiny", "twin"},
		{m.stack.admin, "/twin/tiny", "Assumptions", "twin-report"},
		{ritaToken, "/access", "Send the review", "access-reviewer"},
	} {
		b := browsers[c.token]
		if b == nil {
			b = browsertest.New(t)
			login(t, b, m.url, c.token)
			browsers[c.token] = b
		}
		t.Run(c.name, func(t *testing.T) {
			must(t, chromedp.Do(b.Ctx, chromedp.Navigate(m.url+c.path)))
			must(t, browsertest.WaitText(b.Ctx, "main", c.wait))
			vs, err := browsertest.Axe(b.Ctx)
			if err != nil {
				t.Fatalf("axe: %v", err)
			}
			for _, v := range browsertest.Serious(vs) {
				t.Errorf("%s: accessibility: %s", c.path, v)
			}
			browsertest.Screenshot(t, b.Ctx, c.name)
			if hosts := browsertest.ExternalHosts(m.url, b.Requests()); len(hosts) > 0 {
				t.Errorf("%s asks other hosts: %v", c.path, hosts)
			}
			if errs := b.Errors(); len(errs) > 0 {
				t.Errorf("%s: console errors: %v", c.path, errs)
			}
		})
	}
}
