package portal

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gigafactory/gigafactory/internal/api"
	"github.com/gigafactory/gigafactory/internal/browsertest"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/testutil"
)

const oidcClientID = "gigafactory-portal"

// newOIDCStack is newStack with federated login: the API accepts ID
// tokens of idp for oidcClientID (api.WithOIDC), the portal logs browsers
// in through idp with login's client (Options.OIDC).
func newOIDCStack(t testing.TB, idp *testutil.OIDCProvider, login OIDCLogin) *stack {
	t.Helper()
	return newStackWith(t,
		[]api.Option{api.WithOIDC(api.OIDC{Issuer: idp.URL, Audience: oidcClientID, OrgMap: map[string]string{"acme.example": "acme"}})},
		func(o *Options) { o.OIDC = &login })
}

// hop is one answer on the way: the request's URL and the answer's
// cookies.
type hop struct {
	url     *url.URL
	status  int
	cookies []*http.Cookie
}

// flowBrowser is a cookie-keeping client that follows redirects (to the
// provider and back) and records every hop.
type flowBrowser struct {
	t    *testing.T
	jar  http.CookieJar
	hc   *http.Client
	hops []hop
}

func newFlowBrowser(t *testing.T) *flowBrowser {
	jar, _ := cookiejar.New(nil)
	b := &flowBrowser{t: t, jar: jar}
	b.hc = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if r := req.Response; r != nil {
			b.hops = append(b.hops, hop{url: r.Request.URL, status: r.StatusCode, cookies: r.Cookies()})
		}
		return nil
	}}
	return b
}

// get follows rawURL to its end; header is set on every request of the
// chain (as a browser's Sec-Fetch-Site is).
func (b *flowBrowser) get(rawURL string, header http.Header) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.hops = append(b.hops, hop{url: resp.Request.URL, status: resp.StatusCode, cookies: resp.Cookies()})
	return resp, string(raw)
}

// noFollow answers rawURL's first response without following it.
func (b *flowBrowser) noFollow(rawURL string) *http.Response {
	b.t.Helper()
	hc := &http.Client{Jar: b.jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(rawURL)
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (b *flowBrowser) cookie(rawURL, name string) *http.Cookie {
	u, _ := url.Parse(rawURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie is the set-cookie answer hop sent for name, or nil.
func (h hop) setCookie(name string) *http.Cookie {
	for _, c := range h.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func alicesClaims() map[string]any {
	return map[string]any{"sub": "subject-alice", "preferred_username": "alice", "name": "Alice Rossi",
		"email": "alice@acme.example", "schac_home_organization": "acme.example"}
}

// TestOIDCLogin drives the federated login over real HTTP: the portal,
// the API and a test OpenID provider on loopback, a cookie-keeping client
// following the redirects.
func TestOIDCLogin(t *testing.T) {
	idp := testutil.NewOIDCProvider(t, false)
	s := newOIDCStack(t, idp, OIDCLogin{Issuer: idp.URL, ClientID: oidcClientID})
	s.org(t, "acme", "IT")

	t.Run("logs in", func(t *testing.T) {
		idp.ApproveCode(alicesClaims(), "")
		b := newFlowBrowser(t)
		resp, body := b.get(s.url+"/login/oidc?next=/jobs", nil)
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/jobs" || !strings.Contains(body, "alice") || !strings.Contains(body, "(acme, user)") {
			t.Fatalf("landed on %s with %d, want /jobs as alice of acme:\n%s", resp.Request.URL, resp.StatusCode, body)
		}
		// The hops: the portal's redirect to the provider, the
		// provider's back, the callback's to /jobs.
		if len(b.hops) < 4 {
			t.Fatalf("hops %+v", b.hops)
		}
		start, callback := b.hops[0], b.hops[2]
		if start.url.Path != "/login/oidc" || start.status != http.StatusFound {
			t.Errorf("first hop %s %d, want /login/oidc 302", start.url, start.status)
		}
		fc := start.setCookie(flowCookie)
		if fc == nil || !fc.HttpOnly || !fc.Secure || fc.SameSite != http.SameSiteLaxMode || fc.Path != "/login/oidc" || fc.MaxAge != 600 {
			t.Errorf("flow cookie %+v: want HttpOnly, Secure (loopback), SameSite=Lax, Path=/login/oidc, Max-Age=600", fc)
		}
		auth := b.hops[1].url
		q := auth.Query()
		want := map[string]string{"response_type": "code", "client_id": oidcClientID, "scope": "openid profile email",
			"redirect_uri": s.url + "/login/oidc/callback", "code_challenge_method": "S256"}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), v)
			}
		}
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if len(q.Get(k)) < 43 {
				t.Errorf("authorization request %s = %q, want 32 random bytes or more", k, q.Get(k))
			}
		}
		if !strings.HasPrefix(auth.String(), idp.URL+"/authorize?") {
			t.Errorf("sent to %s, want the provider's authorization endpoint", auth)
		}
		if callback.url.Path != "/login/oidc/callback" || callback.status != http.StatusSeeOther {
			t.Fatalf("callback hop %s %d, want 303", callback.url, callback.status)
		}
		sc := callback.setCookie(cookieName)
		if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || strings.Count(sc.Value, ".") != 2 {
			t.Fatalf("session cookie %+v: want an HttpOnly, SameSite=Strict ID token", sc)
		}
		if d := time.Until(sc.Expires); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("session cookie expires in %s, want the ID token's hour", d)
		}
		if fc := callback.setCookie(flowCookie); fc == nil || fc.MaxAge >= 0 {
			t.Errorf("the callback does not clear the flow cookie: %+v", fc)
		}
		// The cookie is the ID token itself: the API accepts it as alice's.
		c, err := client.New(s.url, sc.Value)
		if err != nil {
			t.Fatal(err)
		}
		me, err := c.Whoami(context.Background())
		if err != nil || me.Name != "alice" || me.Auth != "oidc" {
			t.Errorf("whoami with the session cookie = %+v, %v; want alice by oidc", me, err)
		}
		// The code is spent: the same callback again is refused (its flow
		// cookie is gone too).
		resp, body = b.get(callback.url.String(), nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "cookie is missing") {
			t.Errorf("callback replayed: %d\n%s", resp.StatusCode, body)
		}
	})

	// A provider's answer that does not fit the flow: no session.
	cases := map[string]struct {
		tamper     func(t *testing.T, b *flowBrowser, callback *url.URL)
		status     int
		message    string
		sessionSet bool
	}{
		"tampered state": {
			tamper: func(t *testing.T, b *flowBrowser, cb *url.URL) {
				q := cb.Query()
				st := []byte(q.Get("state"))
				st[0] ^= 1 // always another character
				q.Set("state", string(st))
				cb.RawQuery = q.Encode()
			},
			status: http.StatusForbidden, message: "state: the answer from the identity provider does not belong to the login this browser started",
		},
		"no state": {
			tamper: func(t *testing.T, b *flowBrowser, cb *url.URL) {
				q := cb.Query()
				q.Del("state")
				cb.RawQuery = q.Encode()
			},
			status: http.StatusForbidden, message: "state:",
		},
		"wrong PKCE verifier": {
			tamper: func(t *testing.T, b *flowBrowser, cb *url.URL) {
				fc := b.cookie(s.url+"/login/oidc/callback", flowCookie)
				fl, ok := decodeFlow(fc.Value)
				if !ok {
					t.Fatalf("flow cookie %q does not decode", fc.Value)
				}
				fl.verifier = randomString()
				u, _ := url.Parse(s.url + "/login/oidc")
				b.jar.SetCookies(u, []*http.Cookie{{Name: flowCookie, Value: fl.encode(), Path: "/login/oidc"}})
			},
			status: http.StatusUnauthorized, message: "the identity provider refused the authorization code: invalid_grant (PKCE verification failed)",
		},
		"no flow cookie": {
			tamper: func(t *testing.T, b *flowBrowser, cb *url.URL) {
				u, _ := url.Parse(s.url + "/login/oidc")
				b.jar.SetCookies(u, []*http.Cookie{{Name: flowCookie, Value: "", Path: "/login/oidc", MaxAge: -1}})
			},
			status: http.StatusBadRequest, message: "its cookie is missing",
		},
		"unknown code": {
			tamper: func(t *testing.T, b *flowBrowser, cb *url.URL) {
				q := cb.Query()
				q.Set("code", "not-a-code")
				cb.RawQuery = q.Encode()
			},
			status: http.StatusUnauthorized, message: "invalid_grant (unknown or used code)",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			idp.ApproveCode(alicesClaims(), "")
			b := newFlowBrowser(t)
			toIdP := b.noFollow(s.url + "/login/oidc?next=/jobs")
			back := b.noFollow(toIdP.Header.Get("Location"))
			cb, err := url.Parse(back.Header.Get("Location"))
			if err != nil || cb.Query().Get("code") == "" {
				t.Fatalf("the provider answered %d to %q", back.StatusCode, back.Header.Get("Location"))
			}
			tc.tamper(t, b, cb)
			resp, body := b.get(cb.String(), nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.message) {
				t.Errorf("callback = %d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.message, body)
			}
			if !strings.Contains(body, `id="oidc-login"`) {
				t.Errorf("the refusal is not the login page:\n%s", body)
			}
			if c := b.cookie(s.url+"/", cookieName); c != nil {
				t.Errorf("a refused login set the session cookie %q", c.Value)
			}
		})
	}

	t.Run("access denied", func(t *testing.T) {
		idp.ApproveCode(nil, "")
		b := newFlowBrowser(t)
		resp, body := b.get(s.url+"/login/oidc?next=/jobs", nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "The identity provider did not log you in: access_denied (the user declined)") {
			t.Errorf("= %d:\n%s", resp.StatusCode, body)
		}
		if !strings.Contains(body, `href="/login/oidc?next=%2fjobs"`) {
			t.Errorf("the login page does not offer to retry to /jobs:\n%s", body)
		}
		if c := b.cookie(s.url+"/", cookieName); c != nil {
			t.Errorf("a denied login set the session cookie")
		}
	})

	t.Run("next to another host lands on /", func(t *testing.T) {
		idp.ApproveCode(alicesClaims(), "")
		for _, next := range []string{"//evil.example", "https://evil.example/", `/\evil.example`} {
			b := newFlowBrowser(t)
			resp, _ := b.get(s.url+"/login/oidc?next="+url.QueryEscape(next), nil)
			if resp.StatusCode != 200 || resp.Request.URL.String() != s.url+"/" {
				t.Errorf("next=%s landed on %s (%d), want %s/", next, resp.Request.URL, resp.StatusCode, s.url)
			}
		}
	})

	// A browser that says the provider started the navigation gets a page
	// of the portal's own that moves on: a SameSite=Strict cookie is not
	// sent on a cross-site navigation's redirects.
	t.Run("cross-site return continues by a page", func(t *testing.T) {
		idp.ApproveCode(alicesClaims(), "")
		b := newFlowBrowser(t)
		resp, body := b.get(s.url+"/login/oidc?next=/jobs%3Fstate%3Drunning", http.Header{"Sec-Fetch-Site": {"cross-site"}})
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/login/oidc/callback" ||
			!strings.Contains(body, `content="0; url=/jobs?state=running"`) || !strings.Contains(body, `href="/jobs?state=running"`) {
			t.Fatalf("callback = %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
		}
		if c := b.cookie(s.url+"/", cookieName); c == nil {
			t.Fatal("no session cookie")
		}
		resp, body = b.get(s.url+"/jobs?state=running", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "(acme, user)") {
			t.Errorf("/jobs after the page = %d:\n%s", resp.StatusCode, body)
		}
	})

	t.Run("the client secret is sent", func(t *testing.T) {
		// The portal's client is public (no secret): a provider that wants
		// one refuses the code.
		idp.ApproveCode(alicesClaims(), "s3cret")
		defer idp.ApproveCode(alicesClaims(), "")
		b := newFlowBrowser(t)
		resp, body := b.get(s.url+"/login/oidc", nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "invalid_client (wrong client secret)") {
			t.Errorf("= %d:\n%s", resp.StatusCode, body)
		}
	})
}

// TestOIDCConfidentialClient logs in with a client secret.
func TestOIDCConfidentialClient(t *testing.T) {
	idp := testutil.NewOIDCProvider(t, false)
	idp.ApproveCode(alicesClaims(), "s3cret")
	s := newOIDCStack(t, idp, OIDCLogin{Issuer: idp.URL, ClientID: oidcClientID, ClientSecret: "s3cret"})
	b := newFlowBrowser(t)
	resp, body := b.get(s.url+"/login/oidc?next=/jobs", nil)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/jobs" || !strings.Contains(body, "alice") {
		t.Fatalf("landed on %s with %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
}

// TestOIDCProviderDown: a provider that cannot be reached gives the login
// page with the reason, at the start and at the callback, and is asked
// again at the next login.
func TestOIDCProviderDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	issuer := dead.URL
	dead.Close()
	p, err := New(http.NotFoundHandler(), Options{Log: slog.New(slog.DiscardHandler), OIDC: &OIDCLogin{Issuer: issuer, ClientID: oidcClientID}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	defer hs.Close()
	b := newFlowBrowser(t)
	for _, path := range []string{"/login/oidc?next=/jobs", "/login/oidc/callback?code=c&state=s"} {
		resp, body := b.get(hs.URL+path, nil)
		if path == "/login/oidc?next=/jobs" && (resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "the identity provider "+issuer+" cannot be reached")) {
			t.Errorf("%s = %d:\n%s", path, resp.StatusCode, body)
		}
		if path != "/login/oidc?next=/jobs" && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s without a flow = %d:\n%s", path, resp.StatusCode, body)
		}
	}
}

// TestOIDCInChromium clicks the login page's federated login in headless
// Chromium and lands logged in.
func TestOIDCInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	idp := testutil.NewOIDCProvider(t, false)
	idp.ApproveCode(alicesClaims(), "")
	s := newOIDCStack(t, idp, OIDCLogin{Issuer: idp.URL, ClientID: oidcClientID})
	s.org(t, "acme", "IT")
	b := browsertest.New(t)
	must(t, chromedp.Do(b.Ctx, chromedp.Navigate(s.url+"/login?next=/jobs"), chromedp.Click("#oidc-login")))
	must(t, browsertest.WaitText(b.Ctx, "header", "alice"))
	got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`location.pathname + " " + document.querySelector("header").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	path, who, _ := strings.Cut(got, " ")
	if path != "/jobs" || !strings.Contains(who, "alice") {
		t.Errorf("landed on %s as %q, want /jobs as alice", path, who)
	}
	if e := b.Errors(); len(e) > 0 {
		t.Errorf("page errors %q", e)
	}
}

// TestOIDCInChromiumCrossSite: the provider is another site
// (localhost, the portal 127.0.0.1) and the user approves on its page, so
// the return to the portal is a navigation another site started; the
// SameSite=Strict session cookie must still reach /jobs.
func TestOIDCInChromiumCrossSite(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	idp := testutil.NewOIDCProvider(t, false)
	idp.URL = strings.Replace(idp.URL, "127.0.0.1", "localhost", 1)
	idp.ApproveCode(alicesClaims(), "")
	idp.ConfirmCode(true)
	s := newOIDCStack(t, idp, OIDCLogin{Issuer: idp.URL, ClientID: oidcClientID})
	s.org(t, "acme", "IT")
	b := browsertest.New(t)
	must(t, chromedp.Do(b.Ctx, chromedp.Navigate(s.url+"/login?next=/jobs"), chromedp.Click("#oidc-login")))
	must(t, browsertest.WaitText(b.Ctx, "main", "Approve"))
	must(t, chromedp.Do(b.Ctx, chromedp.Click("#approve")))
	must(t, browsertest.WaitText(b.Ctx, "header", "alice"))
	got, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || got != "/jobs" {
		t.Errorf("landed on %q (%v), want /jobs", got, err)
	}
}
