package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

func TestLoginAndViews(t *testing.T) {
	s := newStack(t)
	b := s.login(t, s.admin)
	for _, path := range []string{"/", "/sites/gf-de", "/jobs", "/jobs?all=1", "/submit", "/projects", "/projects/default"} {
		status, body := b.get(path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, status, body)
		}
		if !strings.Contains(body, `<html lang="en">`) {
			t.Errorf("GET %s: no lang", path)
		}
	}
}

func TestWithoutSessionGoesToLogin(t *testing.T) {
	s := newStack(t)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.url + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fjobs" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Content-Security-Policy") != CSP {
		t.Fatalf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
}

func TestBadTokenAndCSRF(t *testing.T) {
	s := newStack(t)
	jar := s.login(t, s.admin)
	// A form without its CSRF token is refused, and nothing happens.
	status, _ := jar.post("/sites/gf-de/drain", url.Values{}, false)
	if status != http.StatusForbidden {
		t.Fatalf("drain without csrf: %d", status)
	}
	if st, _ := s.ac.Site(t.Context(), "gf-de"); st.State != "active" {
		t.Fatalf("site drained without a CSRF token: %s", st.State)
	}
	status, _ = jar.post("/sites/gf-de/drain", url.Values{}, true)
	if st, _ := s.ac.Site(t.Context(), "gf-de"); status != http.StatusOK || st.State != "draining" {
		t.Fatalf("drain with csrf: %d, site %s", status, st.State)
	}
	// An unknown token does not log in.
	other := &browser{t: t, s: s, hc: &http.Client{}}
	status, body := other.post("/login", url.Values{"token": {"gf_nope"}}, false)
	if status != http.StatusUnauthorized || !strings.Contains(body, "does not accept this token") {
		t.Fatalf("bad token: %d\n%s", status, body)
	}
	_ = client.NewUser{}
}

// Served pages, styles and scripts name no other host: nothing is fetched
// from a CDN, no font from elsewhere.
func TestNoExternalReferences(t *testing.T) {
	s := newStack(t)
	b := s.login(t, s.admin)
	ref := regexp.MustCompile(`(?i)(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|https?://`)
	paths := []string{"/", "/sites/gf-de", "/jobs", "/submit", "/projects", "/projects/default", "/login",
		"/static/app.css", "/static/app.js", "/static/favicon.svg"}
	for _, path := range paths {
		status, body := b.get(path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d", path, status)
			continue
		}
		for _, m := range ref.FindAllStringIndex(body, -1) {
			ctx := body[max(0, m[0]-40):min(len(body), m[1]+60)]
			// The SVG namespace is an identifier, not a fetch.
			if strings.Contains(ctx, "http://www.w3.org/2000/svg") {
				continue
			}
			t.Errorf("%s references another host: …%s…", path, ctx)
		}
	}
}

// Every answer of the portal carries the security headers.
func TestSecurityHeaders(t *testing.T) {
	s := newStack(t)
	for _, path := range []string{"/login", "/static/app.css", "/jobs", "/nope"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		for k, want := range map[string]string{"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
			if h.Get(k) != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
	}
	if !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe-inline") || strings.Contains(CSP, "unsafe-eval") {
		t.Errorf("CSP allows more than the portal's own scripts: %s", CSP)
	}
}

// The session cookie is HttpOnly, SameSite=Strict and, on loopback,
// Secure; logging out revokes the token the portal minted for it.
func TestSessionCookie(t *testing.T) {
	s := newStack(t)
	jar := s.login(t, s.admin)
	u, _ := url.Parse(s.url)
	var session string
	for _, c := range jar.hc.Jar.Cookies(u) {
		if c.Name == cookieName {
			session = c.Value
		}
	}
	if session == "" || session == s.admin {
		t.Fatalf("the session is not a token of its own: %q", session)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(s.url+"/login", url.Values{"token": {s.admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	sess, _ := client.New(s.url, session)
	if _, err := sess.Whoami(t.Context()); err != nil {
		t.Fatalf("the session token does not work: %v", err)
	}
	if status, _ := jar.post("/logout", url.Values{}, true); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if _, err := sess.Whoami(t.Context()); err == nil {
		t.Fatal("the session token still works after logout")
	}
}

// A site's page shows its running and queued jobs by number and by row.
func TestSitePageCounts(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	busy, err := s.ac.Submit(ctx, core.JobSpec{Name: "fills-it", Command: []string{"sleep", "60"}, Accelerators: 4000, Project: "default", Site: "gf-it"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		j, err := s.ac.GetJob(ctx, busy.ID)
		if err == nil && j.State == core.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first job did not start: %+v %v", j, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	queued, err := s.ac.Submit(ctx, core.JobSpec{Name: "queued-here", Command: []string{"true"}, Accelerators: 1000, Project: "default", Site: "gf-it"}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := s.login(t, s.admin)
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body = b.get("/sites/gf-it")
		if strings.Contains(body, "/jobs/"+queued.DisplayID()+`"`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"/jobs/" + busy.DisplayID() + `"`, "/jobs/" + queued.DisplayID() + `"`, "fills-it", "queued-here"} {
		if !strings.Contains(body, want) {
			t.Errorf("the site's page lacks %s", want)
		}
	}
	if strings.Contains(body, "[]") {
		t.Errorf("the page prints a Go slice")
	}
	_, _ = s.ac.CancelJob(ctx, busy.ID)
}

// A pool too large to draw node by node is drawn a block (leaf switch) a
// square when its blocks fit, else by equal groups; every node is counted
// once.
func TestHeatMap(t *testing.T) {
	tests := map[string]struct {
		pool    core.Pool
		cells   int
		unit    string
		firstOf float64
	}{
		"nodes":  {core.Pool{Name: "p", Nodes: 10, AccelPerNode: 4}, 10, "node", 4},
		"blocks": {core.Pool{Name: "p", Nodes: 12500, AccelPerNode: 8, NodesPerBlock: 32}, 391, "block of 32 nodes", 256},
		"groups": {core.Pool{Name: "p", Nodes: 5000, AccelPerNode: 4}, 1000, "group of 5 nodes", 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			used := make([]float64, tc.pool.Nodes)
			used[0], used[tc.pool.Nodes-1] = 2, 1
			cells, _, _, unit := heatMap(tc.pool, used)
			if len(cells) != tc.cells || unit != tc.unit || cells[0].Of != tc.firstOf {
				t.Fatalf("%d cells of %q, the first of %v", len(cells), unit, cells[0].Of)
			}
			var in, of float64
			for _, c := range cells {
				in += c.InUse
				of += c.Of
			}
			if in != 3 || of != float64(tc.pool.Nodes*tc.pool.AccelPerNode) {
				t.Fatalf("cells hold %v in use of %v", in, of)
			}
		})
	}
}
