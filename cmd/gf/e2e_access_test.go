package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// accessConfig is the federation of TestE2EAccess: two sites on this
// machine (local driver, virtual accelerators) with different models, and
// the exchange rate between them: one A100-hour is worth 0.435 H100-hours.
const accessConfig = `sites:
  - id: hsite
    kind: local
    country: DE
    driver: local
    pools:
      - {name: gpu, model: h100, accelerators_per_node: 8, nodes: 1, cpus_per_node: 16}
  - id: asite
    kind: local
    country: FR
    driver: local
    pools:
      - {name: gpu, model: a100, accelerators_per_node: 4, nodes: 1, cpus_per_node: 16}
exchange_rates: {h100: 1, a100: 0.435}
`

// accessRates are accessConfig's exchange rates.
var accessRates = map[string]float64{"h100": 1, "a100": 0.435}

// user runs gf as one user: their own token, GF_URL, away from the
// server's directory (so no admin.token is found).
type user struct {
	s     *server
	name  string
	token string
	dir   string
}

func (s *server) user(t *testing.T, name, token string) *user {
	return &user{s: s, name: name, token: token, dir: t.TempDir()}
}

func (u *user) gf(args ...string) result {
	u.s.t.Helper()
	env := cleanEnv("GF_URL="+u.s.url, "GF_TOKEN="+u.token, "GF_LOGIN_FILE="+filepath.Join(u.dir, "none.json"))
	return u.s.gfIn(u.dir, env, args...)
}

func (u *user) must(args ...string) string {
	u.s.t.Helper()
	r := u.gf(args...)
	if r.code != 0 {
		u.s.t.Fatalf("%s: gf %s: %s", u.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// json runs gf ... -o json and decodes its output into out.
func (u *user) json(out any, args ...string) {
	u.s.t.Helper()
	stdout := u.must(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		u.s.t.Fatalf("%s: gf %s -o json: %v\n%s", u.name, strings.Join(args, " "), err, stdout)
	}
}

// usage is gf usage PROJECT -o json's one project.
func (u *user) usage(project string) core.ProjectUsage {
	u.s.t.Helper()
	var us []core.ProjectUsage
	u.json(&us, "usage", project)
	if len(us) != 1 {
		u.s.t.Fatalf("gf usage %s gave %d projects, want 1", project, len(us))
	}
	return us[0]
}

// createUser is gf users create NAME ARGS -o json (as the administrator):
// the new user with their token.
func createUser(s *server, name string, args ...string) *user {
	s.t.Helper()
	var c client.CreatedUser
	out := s.must(append([]string{"users", "create", name, "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Token == "" {
		s.t.Fatalf("gf users create %s: %v\n%s", name, err, out)
	}
	return s.user(s.t, name, c.Token)
}

// charged is what job j's run cost in H100-hours: its accelerator-hours
// times its model's rate, from gf show's start and end.
func charged(t *testing.T, j core.Job) (site string, accelHours, h100Hours float64) {
	t.Helper()
	if j.Alloc == nil || j.StartTime == nil || j.EndTime == nil {
		t.Fatalf("job %d has no allocation, start or end: %+v", j.ID, j)
	}
	rate, ok := map[string]float64{"hsite": accessRates["h100"], "asite": accessRates["a100"]}[j.Alloc.Site]
	if !ok {
		t.Fatalf("job %d ran at %q, not at hsite or asite", j.ID, j.Alloc.Site)
	}
	h := float64(j.Alloc.Accelerators()) / 1000 * j.EndTime.Sub(*j.StartTime).Hours()
	return j.Alloc.Site, h, h * rate
}

// auditActions returns the audit log's entries of action (as the
// administrator: GET /api/v1/audit; gf has no audit command).
func auditEntries(t *testing.T, s *server, action string) []struct{ Object, Detail string } {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/api/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Items []struct {
			Action, Object, Detail string
		} `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/audit: %d %v", resp.StatusCode, err)
	}
	var out []struct{ Object, Detail string }
	for _, e := range doc.Items {
		if e.Action == action {
			out = append(out, struct{ Object, Detail string }{e.Object, e.Detail})
		}
	}
	return out
}

// eventually polls f every 100 ms until it reports true, failing the test
// with what f last said after within.
func eventually(t *testing.T, within time.Duration, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2EAccess is issue 14's acceptance on a real gf serve, driven with gf
// as each user would, each with their own token; docs/ACCESS.md walks the
// same commands. An SME's PI answers a fast-lane call; a reviewer of the
// PI's organisation and one who declared a conflict are refused, two
// others review; the allocator ranks and awards 0.003 H100-hours; jobs run
// at an H100 site and an A100 site and are charged in H100-hours at the
// exchange rate; at 80% the audit log has a warning; once the award is
// spent a new job waits with the reason; an extension lets it run; after a
// restart gf usage shows the same use, read from the store.
func TestE2EAccess(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	step := func(name string) { t.Logf("%6.2fs %s", time.Since(begin).Seconds(), name) }
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gf.yaml")
	if err := os.WriteFile(cfg, []byte(accessConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServerIn(t, dir, "--config", cfg)

	step("accounts: an SME with its PI, an allocator, reviewers")
	s.must("orgs", "create", "acme", "--kind", "sme", "--country", "FR")
	s.must("orgs", "create", "uni", "--kind", "research", "--country", "DE")
	s.must("projects", "create", "acme-vision", "--org", "acme", "--description", "visual inspection of welds")
	s.must("projects", "create", "uni-lab", "--org", "uni")
	alice := createUser(s, "alice", "--org", "acme", "--email", "alice@acme.example")
	s.must("members", "add", "acme-vision", "alice", "--role", "pi")
	carla := createUser(s, "carla", "--role", "allocator")
	rita := createUser(s, "rita", "--role", "reviewer", "--org", "acme") // the PI's organisation
	rex := createUser(s, "rex", "--role", "reviewer", "--org", "uni")
	vera := createUser(s, "vera", "--role", "reviewer", "--org", "uni")
	otto := createUser(s, "otto", "--role", "reviewer", "--org", "uni")
	var who core.Whoami
	alice.json(&who, "whoami")
	if who.Name != "alice" || who.Org != "acme" || !strings.Contains(strings.Join(who.Roles, " "), "pi:acme-vision") {
		t.Errorf("alice's gf whoami = %+v, want alice of acme, pi:acme-vision among the roles", who)
	}
	_ = rita

	step("the allocator opens a fast-lane call")
	today := time.Now()
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	var call core.Call
	carla.json(&call, "call", "create", "--title", "AI Factory fast lane", "--mode", "fast-lane",
		"--models", "h100,a100", "--sites", "hsite,asite", "--kinds", "sme,startup,industry",
		"--total-hours", "1000", "--closes", day(30), "--open")
	if call.State != core.CallOpen || !regexp.MustCompile(`^EHPC-AIF-\d{4}FL\d\d$`).MatchString(call.ID) {
		t.Fatalf("gf call create --open = %+v, want an open EHPC-AIF-YYYYFLNN call", call)
	}
	var calls []core.Call
	alice.json(&calls, "calls")
	if len(calls) != 1 || calls[0].ID != call.ID {
		t.Errorf("alice's gf calls = %+v, want the open call", calls)
	}

	step("eligibility: a research organisation may not answer this call")
	if r := s.gf("propose", "--call", call.ID, "--project", "uni-lab", "--title", "x", "--hours", "h100=1", "--start", day(0), "--end", day(90)); r.code != 1 || !strings.Contains(r.stderr, "research") {
		t.Errorf("a proposal of uni (research) to a call for sme,startup,industry: %s; want refused naming the kind", r)
	}

	step("the PI proposes")
	var prop core.Proposal
	alice.json(&prop, "propose", "--call", call.ID, "--project", "acme-vision", "--title", "Weld defect detection",
		"--abstract", "Fine-tune a vision transformer on 40,000 weld images", "--hours", "h100=0.01,a100=0.01",
		"--start", day(0), "--end", day(90))
	if prop.State != core.ProposalSubmitted || !strings.HasPrefix(prop.ID, call.ID+"-") {
		t.Fatalf("gf propose = %+v, want a submitted proposal %s-NNNN", prop, call.ID)
	}

	step("review: conflicts refused, two reviews")
	otto.must("review", "conflict", "--org", "acme", "--reason", "former employee of acme")
	for _, c := range []struct{ who, code, why string }{
		{"rita", access.RefuseSameOrg, "belongs to organisation acme, the principal investigator's"},
		{"otto", access.RefuseConflict, "declared a conflict with organisation acme: former employee of acme"},
	} {
		r := carla.gf("review", "assign", prop.ID, c.who)
		if r.code != 1 || !strings.Contains(r.stderr, c.why) || !strings.Contains(r.stderr, c.code) {
			t.Errorf("gf review assign %s %s: %s; want refused: %q (%s)", prop.ID, c.who, r, c.why, c.code)
		}
	}
	carla.must("review", "assign", prop.ID, "rex")
	carla.must("review", "assign", prop.ID, "vera")
	var assigned []core.Proposal
	rex.json(&assigned, "proposals")
	if len(assigned) != 1 || assigned[0].ID != prop.ID || assigned[0].State != core.ProposalUnderReview {
		t.Errorf("rex's gf proposals = %+v, want the one proposal under review", assigned)
	}
	rex.must("review", "score", prop.ID, "--technical", "4", "--comments", "feasible on one node")
	vera.must("review", "score", prop.ID, "--technical", "5", "--comments", "clear plan, data ready")
	var ranking []access.Ranked
	carla.json(&ranking, "call", "ranking", call.ID)
	if len(ranking) != 1 || ranking[0].Rank != 1 || ranking[0].Reviews != 2 || ranking[0].Technical != 4.5 || !ranking[0].Fundable {
		t.Fatalf("gf call ranking = %+v, want the proposal first, fundable on 2 reviews (technical 4.5)", ranking)
	}

	step("the award: 0.003 H100-hours")
	var aw core.Award
	carla.json(&aw, "award", prop.ID, "--hours", "h100=0.003")
	if aw.ID != prop.ID || aw.Project != "acme-vision" || aw.Hours["h100"] != 0.003 || strings.Join(aw.Sites, ",") != "hsite,asite" {
		t.Fatalf("gf award = %+v, want 0.003 h100-hours for acme-vision at hsite,asite", aw)
	}
	var decided core.Proposal
	alice.json(&decided, "proposals", prop.ID)
	if decided.State != core.ProposalAwarded {
		t.Errorf("the proposal is %s after the award, want awarded", decided.State)
	}
	if u := alice.usage("acme-vision"); u.Award == nil || u.Award.ID != aw.ID || u.Unit != "h100" || u.Awarded != 0.003 || u.Used != 0 {
		t.Errorf("gf usage before any job = %+v, want the award, 0.003 h100-hours, none used", u)
	}

	step("jobs at both sites")
	var ran []core.JobID
	run := func(u *user, args ...string) core.JobID {
		t.Helper()
		out := u.must(append([]string{"submit", "--project", "acme-vision", "--parsable"}, args...)...)
		n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatalf("gf submit --parsable printed %q", out)
		}
		ran = append(ran, core.JobID(n))
		return core.JobID(n)
	}
	h := run(alice, "--model", "h100", "-a", "1", "--", "sleep", "1")
	a := run(alice, "--model", "a100", "-a", "1", "--", "sleep", "1")
	for id, site := range map[core.JobID]string{h: "hsite", a: "asite"} {
		j := s.waitEnded(id, 60*time.Second)
		if j.State != core.StateCompleted || j.Alloc == nil || j.Alloc.Site != site {
			t.Fatalf("job %d: %s at %v (%q), want completed at %s", id, j.State, j.Alloc, j.Reason, site)
		}
	}
	// used_hours is each run's accelerator-hours times its rate; each
	// site's row charges its model at its rate.
	checkCharged := func(u core.ProjectUsage) (bool, string) {
		want, bySite := 0.0, map[string][2]float64{}
		for _, id := range ran {
			site, accel, h100 := charged(t, s.job(id))
			want += h100
			r := bySite[site]
			bySite[site] = [2]float64{r[0] + accel, r[1] + h100}
		}
		const tol = 1e-8 // hours: 36 µs of one accelerator
		if math.Abs(u.Used-want) > tol {
			return false, fmt.Sprintf("used_hours %.9f, want %.9f (the runs' accelerator-hours at the exchange rates)", u.Used, want)
		}
		if len(u.BySiteModel) != len(bySite) {
			return false, fmt.Sprintf("by_site_model %+v, want rows for %v", u.BySiteModel, bySite)
		}
		for _, row := range u.BySiteModel {
			w := bySite[row.Site]
			model := map[string]string{"hsite": "h100", "asite": "a100"}[row.Site]
			if row.Model != model || math.Abs(row.AcceleratorHours-w[0]) > tol || math.Abs(row.ChargedHours-w[1]) > tol {
				return false, fmt.Sprintf("by_site_model row %+v, want %s %s %.9f accelerator-hours charged %.9f", row, row.Site, model, w[0], w[1])
			}
		}
		return true, ""
	}
	eventually(t, 10*time.Second, func() (bool, string) { return checkCharged(alice.usage("acme-vision")) })
	if csv := alice.must("usage", "acme-vision", "-o", "csv"); !strings.HasPrefix(csv, "project,award,unit,awarded_hours,used_hours") ||
		!strings.Contains(csv, "asite,a100,1,") || !strings.Contains(csv, "hsite,h100,1,") {
		t.Errorf("gf usage -o csv:\n%s", csv)
	}
	// Issue 15: each run's meter, normalised to the award's unit, adds up
	// to what the award was charged; the report by site has both sites.
	var meters []core.Meter
	alice.json(&meters, "usage", "--jobs")
	var norm float64
	for _, m := range meters {
		norm += m.NormHours
	}
	if u := alice.usage("acme-vision"); len(meters) != 2 || math.Abs(norm-u.Used) > 1e-8 {
		t.Errorf("gf usage --jobs: %d meters, %.9f normalised hours; want 2, %.9f (the award's use)", len(meters), norm, u.Used)
	}
	if csv := alice.must("usage", "--by", "site", "-o", "csv"); !strings.HasPrefix(csv, "site,jobs,runs,accelerator_hours") ||
		!strings.Contains(csv, "\nasite,1,1,") || !strings.Contains(csv, "\nhsite,1,1,") {
		t.Errorf("gf usage --by site -o csv:\n%s", csv)
	}

	step("80%: a warning in the audit log")
	// Two A100s spend 0.87 H100-seconds a second: the award's 10.8
	// H100-seconds pass 80% and then 100% while this job runs.
	long := run(alice, "--model", "a100", "-a", "2", "--", "sleep", "120")
	var warning string
	eventually(t, 40*time.Second, func() (bool, string) {
		ws := auditEntries(t, s, "award.warning")
		if len(ws) == 0 {
			return false, "no award.warning in the audit log"
		}
		warning = ws[0].Detail
		return ws[0].Object == "award/"+aw.ID, fmt.Sprintf("award.warning of %s, want award/%s", ws[0].Object, aw.ID)
	})
	if m := regexp.MustCompile(`^award \S+ at (\d+)%: \S+ of 0\.003 H100-hours used$`).FindStringSubmatch(warning); m == nil {
		t.Errorf("award.warning detail %q, want \"award ID at N%%: USED of 0.003 H100-hours used\"", warning)
	} else if pct, _ := strconv.Atoi(m[1]); pct < 80 {
		t.Errorf("award.warning at %d%%, before 80%%", pct)
	} else {
		t.Logf("award.warning: %s", warning)
	}

	step("100%: the award holds the project's jobs")
	exhausted := "award " + aw.ID + " exhausted ("
	eventually(t, 40*time.Second, func() (bool, string) {
		u := alice.usage("acme-vision")
		return strings.HasPrefix(u.Held, exhausted), fmt.Sprintf("gf usage: used %.6f of %.6f, held %q", u.Used, u.Awarded, u.Held)
	})
	alice.must("cancel", long.String())
	if j := s.waitEnded(long, 30*time.Second); j.State != core.StateCancelled {
		t.Fatalf("job %d ended %s, want cancelled", long, j.State)
	}
	// A pipeline's token, scoped to submitting, submits the next job.
	var ci client.CreatedToken
	alice.json(&ci, "tokens", "create", "--name", "ci", "--scope", "submit", "--expires", "30d")
	if ci.Token == "" || ci.Scope != "submit" || ci.ExpiresAt == nil {
		t.Fatalf("gf tokens create --scope submit --expires 30d = %+v", ci)
	}
	pipeline := s.user(t, "alice's ci", ci.Token)
	next := run(pipeline, "--model", "h100", "-a", "1", "--", "sh", "-c", "echo first job after the extension")
	eventually(t, 10*time.Second, func() (bool, string) {
		j := s.job(next)
		return j.State == core.StatePending && strings.HasPrefix(j.Reason, exhausted),
			fmt.Sprintf("job %d is %s with reason %q, want pending with %q...", next, j.State, j.Reason, exhausted)
	})
	if out := alice.must("jobs"); !strings.Contains(out, exhausted) {
		t.Errorf("gf jobs does not show the award's reason:\n%s", out)
	}
	// gf usage's table gives the project's figures and why it is held
	// once, on its first row of the two sites'.
	if out := alice.must("usage", "acme-vision"); strings.Count(out, exhausted) != 1 || strings.Count(out, "\n") != 3 {
		t.Errorf("gf usage table: want a header, two rows (hsite, asite) and the reason once:\n%s", out)
	}
	t.Logf("held: %s", s.job(next).Reason)

	step("the extension releases the job")
	var extended core.Award
	carla.json(&extended, "award", "extend", aw.ID, "--hours", "h100=0.01")
	if extended.Hours["h100"] != 0.01 {
		t.Errorf("gf award extend --hours h100=0.01 = %+v", extended)
	}
	if j := s.waitEnded(next, 60*time.Second); j.State != core.StateCompleted || j.Alloc == nil || j.Alloc.Site != "hsite" {
		t.Fatalf("job %d after the extension: %s at %v (%q), want completed at hsite", next, j.State, j.Alloc, j.Reason)
	}
	if got := alice.must("logs", next.String()); got != "first job after the extension\n" {
		t.Errorf("gf logs %d = %q", next, got)
	}
	var before core.ProjectUsage
	eventually(t, 10*time.Second, func() (bool, string) {
		before = alice.usage("acme-vision")
		if before.Held != "" || before.Awarded != 0.01 {
			return false, fmt.Sprintf("gf usage after the extension: awarded %g, held %q", before.Awarded, before.Held)
		}
		return checkCharged(before)
	})
	if math.Abs(before.Remaining-(0.01-before.Used)) > 1e-9 {
		t.Errorf("remaining_hours %.9f, want %.9f", before.Remaining, 0.01-before.Used)
	}
	t.Logf("used %.6f of %g H100-hours in %d runs", before.Used, before.Awarded, len(ran))

	step("restart: the same use, from the store")
	s.stop()
	s = startServerIn(t, dir, "--config", cfg)
	alice.s, carla.s = s, s
	after := alice.usage("acme-vision")
	if math.Abs(after.Used-before.Used) > 1e-6 || after.Awarded != before.Awarded || after.Held != "" {
		t.Errorf("gf usage after a restart: used %.9f of %g (held %q), before it %.9f of %g", after.Used, after.Awarded, after.Held, before.Used, before.Awarded)
	}
	if ok, why := checkCharged(after); !ok {
		t.Errorf("after a restart: %s", why)
	}
	if ws := auditEntries(t, s, "award.warning"); len(ws) != 1 {
		t.Errorf("%d award.warning entries after a restart, want the one: %+v", len(ws), ws)
	}
	step("done")
}
