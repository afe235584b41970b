package portal

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gigafactory/gigafactory/internal/browsertest"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The end-to-end test drives the portal in headless Chromium as its users
// would: a researcher logs in, pastes a batch script, watches the job run
// and end live, reads its log and sees her award's burn-down move; an
// operator drains a site; a member of another organisation sees none of
// it. Every view is checked by axe-core (no serious violation), for
// requests to other hosts and for console errors (a CSP violation is
// one), and screenshotted into the artifacts (docs/PORTAL.md's gallery).
func TestPortalInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	t.Parallel() // the browser tests mostly wait: they overlap
	browsertest.EnsureAxe(t)
	s := newStack(t)
	ctx := context.Background()
	s.org(t, "acme", "DE")
	s.org(t, "beta", "FR")
	alice := s.user(t, client.NewUser{Name: "alice", Org: "acme"})
	bob := s.user(t, client.NewUser{Name: "bob", Org: "beta"})
	op := s.user(t, client.NewUser{Name: "olga", Role: core.RoleOperator, Sites: []string{"gf-it"}})
	now := time.Now().UTC()
	must(t, s.st.CreateAward(ctx, core.Award{ID: "EHPC-AIF-2026PG01-0001", Project: "acme", Hours: map[string]float64{"virtual": 2},
		ValidFrom: now.Add(-time.Hour), ValidTo: now.AddDate(0, 6, 0), CreatedAt: now}))
	must(t, s.d.AwardsChanged(ctx))

	b := browsertest.New(t)
	c := b.Ctx
	checked := map[string]bool{}
	check := func(name string) {
		t.Helper()
		vs, err := browsertest.Axe(c)
		if err != nil {
			t.Fatalf("%s: axe: %v", name, err)
		}
		for _, v := range browsertest.Serious(vs) {
			t.Errorf("%s: accessibility: %s", name, v)
		}
		browsertest.Screenshot(t, c, name)
		checked[name] = true
	}
	open := func(path, wait string) {
		t.Helper()
		must(t, chromedp.Do(c, chromedp.Navigate(s.url+path)))
		must(t, browsertest.WaitText(c, "main", wait))
	}

	// Log in with the API token.
	must(t, chromedp.Do(c, chromedp.Navigate(s.url+"/jobs")))
	must(t, browsertest.WaitText(c, "h1", "Log in"))
	check("login")
	must(t, chromedp.Do(c, chromedp.SetValue("#token", alice), chromedp.Click("form button[type=submit]")))
	if err := browsertest.WaitText(c, "h1", "My jobs"); err != nil {
		body, _ := chromedp.Run(c, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("%v\n%s", err, body)
	}
	open("/", "The network")
	check("network")

	// The award's burn-down, before any job.
	open("/projects/acme", "Award EHPC-AIF-2026PG01-0001")
	rowsBefore := countRows(t, c, "section.card table tbody tr")

	// Submit a job by pasting a batch script; watch it run and end.
	open("/submit", "Submit a job")
	check("submit")
	script := "#!/bin/bash\n#SBATCH -J portal-e2e\n#SBATCH -A acme\n#SBATCH -G 4\n#SBATCH -t 5\n" +
		"echo hello from the portal\nsleep 2\necho second line\nsleep 2\necho done\n"
	must(t, chromedp.Do(c, chromedp.SetValue("#script", script), chromedp.Click("#submit")))
	t0 := time.Now()
	must(t, browsertest.WaitText(c, ".flash", "Submitted batch job"))
	t.Logf("flash after %v", time.Since(t0))
	if err := browsertest.WaitText(c, "#job-state", "running"); err != nil {
		evs, _ := s.ac.JobEvents(ctx, 1)
		t.Fatalf("after %v: %v\n%+v", time.Since(t0), err, evs)
	}
	must(t, browsertest.WaitText(c, "#log", "hello from the portal"))
	check("job-running")
	waitLong(t, c, "#job-state", "completed")
	must(t, browsertest.WaitText(c, "#log", "done"))
	log, err := chromedp.Run(c, chromedp.Text("#log"))
	must(t, err)
	if !strings.Contains(log, "hello from the portal\nsecond line\ndone") {
		t.Errorf("the followed log is %q", log)
	}
	check("job-ended")
	var jobID string
	must(t, chromedp.Do(c, chromedp.Evaluate[chromedp.Void](`0`)))
	h1, err := chromedp.Run(c, chromedp.Text("h1"))
	must(t, err)
	if f := strings.Fields(h1); len(f) > 1 {
		jobID = f[1]
	}

	// The burn-down moved: the ended run is a point more, on the live page.
	open("/projects/acme", "Award EHPC-AIF-2026PG01-0001")
	if rows := countRows(t, c, "section.card table tbody tr"); rows <= rowsBefore {
		t.Errorf("burn-down rows %d after the job, %d before", rows, rowsBefore)
	}
	rowsNow := countRows(t, c, "section.card table tbody tr")
	// A second run, submitted outside the page, shows up on it live.
	ac, _ := client.New(s.url, alice)
	j, err := ac.Submit(ctx, core.JobSpec{Command: []string{"true"}, Accelerators: 2000, Project: "acme"}, "")
	must(t, err)
	if _, err := ac.WaitJob(ctx, j.ID, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for countRows(t, c, "section.card table tbody tr") <= rowsNow {
		if time.Now().After(deadline) {
			t.Fatalf("the burn-down did not move live (still %d rows)", rowsNow)
		}
		time.Sleep(200 * time.Millisecond)
	}
	check("project")
	open("/jobs?all=1", "portal-e2e")
	check("jobs")

	// The keyboard: the first Tab reaches the skip link, Enter moves the
	// focus to the page's content; every link and button is reachable.
	must(t, chromedp.Do(c, chromedp.KeyEvent("\t")))
	if cls, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.activeElement.className`)); cls != "skip" {
		t.Errorf("the first Tab focuses %q, not the skip link", cls)
	}
	must(t, chromedp.Do(c, chromedp.KeyEvent("\r")))
	if id, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.activeElement.id`)); id != "main" {
		t.Errorf("the skip link moved the focus to %q, not main", id)
	}
	// A phone: nothing wider than the screen.
	must(t, chromedp.Do(c, chromedp.EmulateViewport(390, 844)))
	for _, path := range []string{"/", "/jobs?all=1", "/submit", "/projects/acme"} {
		open(path, "")
		w, err := chromedp.Run(c, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		must(t, err)
		if w > 390 {
			t.Errorf("%s is %d px wide on a 390 px phone", path, w)
		}
	}
	check("phone-project")
	must(t, chromedp.Do(c, chromedp.EmulateViewport(browsertest.WindowWidth, browsertest.WindowHeight)))
	open("/projects", "acme")
	check("projects")

	// Nothing came from another host, nothing broke the CSP.
	if ext := browsertest.ExternalHosts(s.url, b.Requests()); len(ext) > 0 {
		t.Errorf("the portal made requests to other hosts: %v", ext)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}

	// An operator drains her site.
	ob := browsertest.New(t)
	login(t, ob, s.url, op)
	must(t, chromedp.Do(ob.Ctx, chromedp.Navigate(s.url+"/sites/gf-it")))
	must(t, browsertest.WaitText(ob.Ctx, "h1", "Site gf-it"))
	must(t, chromedp.Do(ob.Ctx, chromedp.Click("#drain")))
	must(t, browsertest.WaitText(ob.Ctx, ".flash", "drained"))
	if st, _ := s.ac.Site(ctx, "gf-it"); st.State != core.SiteDraining {
		t.Errorf("gf-it is %s after the operator drained it", st.State)
	}
	must(t, browsertest.WaitText(ob.Ctx, "main", "Resume gf-it"))
	c = ob.Ctx
	check("site")

	// A member of another organisation sees none of it.
	bb := browsertest.New(t)
	login(t, bb, s.url, bob)
	for _, path := range []string{"/jobs?all=1", "/projects", "/usage", "/ai-act", "/access"} {
		must(t, chromedp.Do(bb.Ctx, chromedp.Navigate(s.url+path)))
		must(t, browsertest.WaitText(bb.Ctx, "footer", "Gigafactory"))
		body, err := chromedp.Run(bb.Ctx, chromedp.Text("main"))
		must(t, err)
		for _, leak := range []string{"portal-e2e", "acme", "alice", "EHPC-AIF-2026PG01-0001"} {
			if strings.Contains(body, leak) {
				t.Errorf("bob (beta) sees %q on %s", leak, path)
			}
		}
	}
	if jobID != "" {
		must(t, chromedp.Do(bb.Ctx, chromedp.Navigate(s.url+"/jobs/"+jobID)))
		must(t, browsertest.WaitText(bb.Ctx, "main", "no job"))
	}
	for _, name := range []string{"login", "network", "submit", "job-running", "job-ended", "project", "jobs", "phone-project", "projects", "site"} {
		if !checked[name] {
			t.Errorf("view %s was not checked", name)
		}
	}
}

func login(t *testing.T, b *browsertest.Browser, url, token string) {
	t.Helper()
	must(t, chromedp.Do(b.Ctx, chromedp.Navigate(url+"/login")))
	must(t, chromedp.Do(b.Ctx, chromedp.SetValue("#token", token), chromedp.Click("form button[type=submit]")))
	must(t, browsertest.WaitText(b.Ctx, "h1", "The network"))
}

func countRows(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, strconv.Quote(sel))))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitLong is WaitText for up to a minute (a job's whole run).
func waitLong(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	var err error
	for range 6 {
		if err = browsertest.WaitText(ctx, sel, want); err == nil {
			return
		}
	}
	t.Fatal(err)
}
