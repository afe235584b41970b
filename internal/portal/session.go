package portal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The session cookie carries the API token the portal acts with: a token
// of its own, minted at login for SessionLife when the token the user
// logged in with may mint one (scope admin), else the login token itself
// (a read or submit token keeps its narrower scope in the portal too; an
// OIDC ID token its own expiry). It is HttpOnly (no page script can read
// it), SameSite=Strict (no other site can send it), Secure except over
// plain HTTP to a non-loopback address, and scoped to /.
const (
	cookieName = "gf_session"
	// SessionLife is how long a portal session lasts.
	SessionLife = 12 * time.Hour
	// sessionLabel names the tokens the portal mints, so gf tokens shows them.
	sessionLabel = "portal session"
)

type session struct {
	token string
	me    *core.Whoami
	csrf  string
	c     *client.Client
}

type sessionKey struct{}

func sessionFrom(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// csrfToken is derived from the session's secret token: only who holds the
// cookie can know it, and it needs no state on the server (several
// controllers accept it alike).
func csrfToken(token string) string {
	h := sha256.Sum256([]byte("gigafactory portal csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

// clientFor returns an API client that acts with token through the
// in-process transport.
func (p *Portal) clientFor(r *http.Request, token string) *client.Client {
	hc := &http.Client{Transport: inproc{h: p.api, remote: r.RemoteAddr}}
	c, _ := client.New("http://portal.invalid", token, client.WithHTTPClient(hc), client.WithRetries(0), client.WithUserAgent("gigafactory-portal"))
	return c
}

// withSession authenticates the request by its cookie (through the API:
// a revoked or expired token ends the session at once), checks the CSRF
// token of every unsafe request, and sends a visitor without a session to
// the login page.
func (p *Portal) withSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		if err != nil || ck.Value == "" {
			p.toLogin(w, r)
			return
		}
		c := p.clientFor(r, ck.Value)
		me, err := c.Whoami(r.Context())
		if err != nil {
			clearSession(w)
			p.toLogin(w, r)
			return
		}
		s := &session{token: ck.Value, me: me, csrf: csrfToken(ck.Value), c: c}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				http.Error(w, "cross-origin form refused (Origin does not match this server)", http.StatusForbidden)
				return
			}
			if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
				http.Error(w, "reading the form: "+err.Error(), http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

// sameOrigin refuses an unsafe request whose Origin (or, without one, the
// Sec-Fetch-Site) names another site: a second guard beside SameSite.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	site := r.Header.Get("Sec-Fetch-Site")
	return site == "" || site == "same-origin" || site == "none"
}

func (p *Portal) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("fragment") == "1" || r.Header.Get("Accept") == "text/event-stream" {
		http.Error(w, "session ended: log in again", http.StatusUnauthorized)
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet || next == "/" {
		next = ""
	}
	target := "/login"
	if next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// secure says whether the cookie may be marked Secure: browsers keep a
// Secure cookie over HTTPS and on loopback, not over plain HTTP elsewhere.
func secure(r *http.Request) bool {
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setSession(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, Expires: expires})
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

type loginData struct {
	Next string
	OIDC bool
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "login", page{Title: "Log in", Data: loginData{Next: safeNext(r.URL.Query().Get("next")), OIDC: p.opt.OIDC != nil}})
}

// safeNext keeps a post-login target only when it is a path of this
// server (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// login checks the token through the API and starts a session. The login
// form carries no CSRF token (there is no session yet); its Origin is
// checked, and the answer's cookie is SameSite=Strict.
func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	data := loginData{Next: next, OIDC: p.opt.OIDC != nil}
	if !sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		p.render(w, r, http.StatusUnprocessableEntity, "login", page{Title: "Log in", Error: "token: paste your API token (gf tokens create prints one) or an ID token of the federation's identity provider.", Data: data})
		return
	}
	c := p.clientFor(r, token)
	me, err := c.Whoami(r.Context())
	if err != nil {
		p.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "token: the server does not accept this token (unknown, revoked or expired).", Data: data})
		return
	}
	expires := time.Now().Add(SessionLife)
	session := token
	if me.Auth == "token" && me.Token != nil && me.Token.Scope == core.ScopeAdmin {
		at := p.opt.Now().Add(SessionLife)
		if me.Token.ExpiresAt != nil && me.Token.ExpiresAt.Before(at) {
			at = *me.Token.ExpiresAt // a session never outlives the token it came from
		}
		ct, err := c.CreateTokenWith(r.Context(), client.TokenOptions{Name: sessionLabel, Scope: core.ScopeAdmin, ExpiresAt: &at})
		if err == nil {
			session, expires = ct.Token, at
		} else {
			p.log.Warn("portal: minting a session token failed; the login token is used", "user", me.Name, "err", err)
		}
	} else if me.Token != nil && me.Token.ExpiresAt != nil {
		expires = *me.Token.ExpiresAt
	}
	setSession(w, r, session, expires)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout revokes the session's own token (one the portal minted) and
// clears the cookie.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	if s.me.Token != nil && s.me.Token.Label == sessionLabel && s.me.Token.ID != 0 {
		if _, err := s.c.RevokeToken(r.Context(), s.me.Token.ID); err != nil {
			p.log.Warn("portal: revoking the session token", "user", s.me.Name, "err", err)
		}
	}
	clearSession(w)
	http.Redirect(w, r, "/login?done="+url.QueryEscape("You are logged out."), http.StatusSeeOther)
}
