package portal

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/api"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// stack is gf serve in the test's process: a real SQLite store, the daemon
// with two local sites, the API and the portal on a loopback HTTP server.
type stack struct {
	url   string
	admin string // the administrator's token
	ac    *client.Client
	st    *store.DB
	d     *daemon.Daemon
	dir   string
}

// testSites are four local sites of the network: gf-de (8 accelerators on
// two nodes), gf-it, gf-fi and gf-es (4 on one each).
func testSites() []core.Site {
	return []core.Site{
		{ID: "gf-de", Name: "Test factory DE", Kind: core.SiteLocal, Country: "DE", City: "Jülich", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "booster", Model: "virtual", AccelPerNode: 4, Nodes: 2, CPUsPerNode: 8}}},
		{ID: "gf-it", Name: "Test factory IT", Kind: core.SiteLocal, Country: "IT", City: "Bologna", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "gpu", Model: "virtual", AccelPerNode: 4, Nodes: 1, CPUsPerNode: 8}}},
		{ID: "gf-fi", Name: "Test factory FI", Kind: core.SiteLocal, Country: "FI", City: "Kajaani", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "g", Model: "virtual", AccelPerNode: 4, Nodes: 1, CPUsPerNode: 8}}},
		{ID: "gf-es", Name: "Test factory ES", Kind: core.SiteLocal, Country: "ES", City: "Barcelona", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "acc", Model: "virtual", AccelPerNode: 4, Nodes: 1, CPUsPerNode: 8}}},
	}
}

func newStack(t testing.TB) *stack {
	t.Helper()
	return newStackWith(t, nil, nil)
}

// newStackWith is newStack with more API options and the portal's options
// edited by portal (when not nil).
func newStackWith(t testing.TB, apiOpts []api.Option, portal func(*Options)) *stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	sites := testSites()
	drivers := map[string]driver.Driver{}
	for _, s := range sites {
		ld, err := local.New(local.Options{Dir: filepath.Join(dir, "sites", s.ID), KillGrace: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		drivers[s.ID] = ld
		t.Cleanup(func() { _ = ld.Close() })
	}
	d, err := daemon.New(daemon.Options{Store: st, Sites: sites, Drivers: drivers, PollEvery: 20 * time.Millisecond, Engine: engine.DefaultConfig(),
		Routing: engine.Routing{MaxSlip: 2 * time.Hour},
		Awards:  func(ctx context.Context) ([]core.Award, error) { return st.ListAwards(ctx, "") }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	must(t, st.CreateOrg(ctx, core.Org{Name: "default", Kind: core.OrgResearch, Country: "LU", CreatedAt: now}))
	must(t, st.CreateProject(ctx, core.Project{Name: "default", Org: "default", CreatedAt: now}))
	must(t, st.CreateUser(ctx, core.User{Name: "admin", Org: "default", Role: core.RoleAdmin, CreatedAt: now}))
	tok, hash := api.NewToken()
	must(t, st.CreateToken(ctx, "admin", hash, "test"))
	must(t, d.Recover(ctx))
	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(loopCtx) }()
	log := slog.New(slog.DiscardHandler)
	twin := filepath.Join(dir, "twin")
	po := Options{Version: "test", Log: log, TwinDir: twin}
	if portal != nil {
		portal(&po)
	}
	p, err := New(api.New(d, log, "test", append([]api.Option{api.WithRateLimit(api.RateLimit{})}, apiOpts...)...).Handler(), po)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	ac, err := client.New(hs.URL, tok)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{url: hs.URL, admin: tok, ac: ac, st: st, d: d, dir: dir}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// org creates an organisation with a project of the same name.
func (s *stack) org(t testing.TB, name, country string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.ac.CreateOrg(ctx, client.NewOrg{Name: name, Kind: core.OrgResearch, Country: country}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ac.CreateProject(ctx, client.NewProject{Name: name, Org: name}); err != nil {
		t.Fatal(err)
	}
}

// user creates a user and returns its token; a user of role user is made
// a member of the project named as its organisation.
func (s *stack) user(t testing.TB, u client.NewUser) string {
	t.Helper()
	ctx := context.Background()
	cu, err := s.ac.CreateUser(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if (u.Role == "" || u.Role == core.RoleUser) && u.Org != "" {
		if _, err := s.ac.AddMember(ctx, u.Org, u.Name, "member"); err != nil {
			t.Fatal(err)
		}
	}
	return cu.Token
}

// browser is a cookie-keeping HTTP client logged in to the portal.
type browser struct {
	t  testing.TB
	s  *stack
	hc *http.Client
}

func (s *stack) login(t testing.TB, token string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, s: s, hc: &http.Client{Jar: jar}}
	status, body := b.post("/login", url.Values{"token": {token}}, false)
	if status != http.StatusOK {
		t.Fatalf("login: %d\n%s", status, body)
	}
	return b
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.s.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a form as the browser would (same Origin); with csrf, the
// CSRF token read off the portal's front page first.
func (b *browser) post(path string, form url.Values, csrf bool) (int, string) {
	b.t.Helper()
	if csrf {
		_, page := b.get("/jobs")
		m := csrfRe.FindStringSubmatch(page)
		if m == nil {
			b.t.Fatalf("no CSRF token on /jobs:\n%s", page)
		}
		form.Set("csrf", m[1])
	}
	req, _ := http.NewRequest(http.MethodPost, b.s.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.s.url)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
