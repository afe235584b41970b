package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/client"
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
