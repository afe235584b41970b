package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The federated login is OpenID Connect's authorization code flow with
// PKCE (S256), a state and a nonce:
//
//	GET /login/oidc?next=/jobs      → 302 to the provider's authorization endpoint;
//	                                   the flow cookie keeps state, nonce, verifier, next
//	(the provider logs the user in) → 302 to /login/oidc/callback?code&state
//	GET /login/oidc/callback        → state checked against the flow cookie,
//	                                   the code exchanged with the verifier,
//	                                   the ID token verified (issuer, audience,
//	                                   expiry, signature, nonce) and shown to the
//	                                   API (Whoami); the ID token becomes the
//	                                   session cookie until it expires → next
//
// The ID token is a bearer token the API accepts already (api.WithOIDC with
// the same issuer and client id), so the session is the API's own login:
// the user is created at its first login there, and a user the API refuses
// is refused here.
const (
	flowCookie = "gf_oidc"
	flowPath   = "/login/oidc"
	// flowLife is how long a browser has to come back from the provider.
	flowLife = 10 * time.Minute
	// oidcScopes are asked of the provider: the API names and places users
	// by the ID token's profile and email claims.
	oidcScopes = "openid profile email"
)

// oidcFlow is the federated login of one portal: the provider, discovered
// at the first login (not at start-up, so that a provider that is down
// does not stop gf serve) and kept once found.
type oidcFlow struct {
	p   *Portal
	cfg OIDCLogin

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	style    oauth2.AuthStyle
}

// oidcRoutes registers the federated login's routes (none while
// Options.OIDC is nil).
func (p *Portal) oidcRoutes(mux *http.ServeMux) {
	if p.opt.OIDC == nil {
		return
	}
	f := &oidcFlow{p: p, cfg: *p.opt.OIDC}
	if f.cfg.HTTPClient == nil {
		f.cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	mux.HandleFunc("GET "+flowPath, f.start)
	mux.HandleFunc("GET "+flowPath+"/callback", f.callback)
}

// discover returns the provider and the ID token verifier, asking the
// provider for its discovery document the first time (and again after a
// failure).
func (f *oidcFlow) discover() (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.provider != nil {
		return f.provider, f.verifier, nil
	}
	// The key set keeps this context for the keys it fetches later, so it
	// has no deadline; the client's timeout bounds each request.
	ctx := oidc.ClientContext(context.Background(), f.cfg.HTTPClient)
	prov, err := oidc.NewProvider(ctx, f.cfg.Issuer)
	if err != nil {
		return nil, nil, err
	}
	f.provider = prov
	f.verifier = prov.Verifier(&oidc.Config{ClientID: f.cfg.ClientID})
	f.style = authStyle(prov, f.cfg.ClientSecret)
	return f.provider, f.verifier, nil
}

// authStyle says how the client authenticates at the token endpoint,
// decided once: oauth2's default guesses (the header, then the body after
// a refusal), and a provider that refuses the first try has spent the
// code by then. A public client sends its id in the body (RFC 6749
// 2.3.1); a confidential one its secret in the header (client_secret_basic,
// OpenID's default), or in the body when the provider offers only
// client_secret_post.
func authStyle(prov *oidc.Provider, secret string) oauth2.AuthStyle {
	if secret == "" {
		return oauth2.AuthStyleInParams
	}
	var doc struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := prov.Claims(&doc); err == nil && slices.Contains(doc.Methods, "client_secret_post") && !slices.Contains(doc.Methods, "client_secret_basic") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// oauth returns the OAuth 2.0 client of a request: its redirect URI is
// this portal's callback as the browser reaches it.
func (f *oidcFlow) oauth(r *http.Request, prov *oidc.Provider) *oauth2.Config {
	endpoint := prov.Endpoint()
	f.mu.Lock()
	endpoint.AuthStyle = f.style
	f.mu.Unlock()
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return &oauth2.Config{
		ClientID:     f.cfg.ClientID,
		ClientSecret: f.cfg.ClientSecret,
		Endpoint:     endpoint,
		RedirectURL:  scheme + "://" + r.Host + flowPath + "/callback",
		Scopes:       strings.Fields(oidcScopes),
	}
}

// flow is what the flow cookie keeps between the redirect to the provider
// and the browser's return.
type flow struct {
	state, nonce, verifier, next string
}

// encode joins the fields with dots: state, nonce and verifier are
// base64url (no dot), next is base64url-encoded.
func (fl flow) encode() string {
	return strings.Join([]string{fl.state, fl.nonce, fl.verifier, base64.RawURLEncoding.EncodeToString([]byte(fl.next))}, ".")
}

func decodeFlow(s string) (flow, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return flow{}, false
	}
	next, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return flow{}, false
	}
	return flow{state: parts[0], nonce: parts[1], verifier: parts[2], next: safeNext(string(next))}, true
}

// randomString is 32 random bytes, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setFlow keeps the flow in an HttpOnly cookie for flowLife, sent only to
// /login/oidc. It is SameSite=Lax, not Strict: the provider's redirect back
// to the callback is a top-level GET from another site.
func setFlow(w http.ResponseWriter, r *http.Request, fl flow, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: fl.encode(), Path: flowPath, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteLaxMode, Expires: expires, MaxAge: int(flowLife / time.Second)})
}

func clearFlow(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: flowPath, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// fail renders the login page with what went wrong.
func (f *oidcFlow) fail(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	f.p.render(w, r, status, "login", page{Title: "Log in", Error: msg, Data: loginData{Next: safeNext(next), OIDC: true}})
}

// start sends the browser to the provider's authorization endpoint.
func (f *oidcFlow) start(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	prov, _, err := f.discover()
	if err != nil {
		f.p.log.Error("portal: OIDC discovery", "issuer", f.cfg.Issuer, "err", err)
		f.fail(w, r, http.StatusBadGateway, next, fmt.Sprintf("Federated login is unavailable: the identity provider %s cannot be reached (%v). Try again later, or log in with an API token.", f.cfg.Issuer, err))
		return
	}
	fl := flow{state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier(), next: next}
	setFlow(w, r, fl, f.p.opt.Now().Add(flowLife))
	target := f.oauth(r, prov).AuthCodeURL(fl.state, oidc.Nonce(fl.nonce), oauth2.S256ChallengeOption(fl.verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// callback finishes the login: every check that fails renders the login
// page with its reason and starts no session.
func (f *oidcFlow) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ck, err := r.Cookie(flowCookie)
	var fl flow
	ok := err == nil
	if ok {
		fl, ok = decodeFlow(ck.Value)
	}
	clearFlow(w, r) // a flow is tried once, whatever comes of it
	if e := q.Get("error"); e != "" {
		msg := "The identity provider did not log you in: " + clip(e, 100)
		if d := q.Get("error_description"); d != "" {
			msg += " (" + clip(d, 300) + ")"
		}
		if e == "access_denied" {
			msg += ". Log in again to retry, or with an API token."
		}
		f.fail(w, r, http.StatusForbidden, fl.next, msg)
		return
	}
	if !ok {
		f.fail(w, r, http.StatusBadRequest, "", "The federated login could not be finished: its cookie is missing (it lasts 10 minutes, and the browser must accept cookies). Log in again.")
		return
	}
	if st := q.Get("state"); st == "" || subtle.ConstantTimeCompare([]byte(st), []byte(fl.state)) != 1 {
		f.fail(w, r, http.StatusForbidden, fl.next, "state: the answer from the identity provider does not belong to the login this browser started. Log in again.")
		return
	}
	code := q.Get("code")
	if code == "" {
		f.fail(w, r, http.StatusBadRequest, fl.next, "code: the identity provider sent no authorization code. Log in again.")
		return
	}
	prov, verifier, err := f.discover()
	if err != nil {
		f.p.log.Error("portal: OIDC discovery", "issuer", f.cfg.Issuer, "err", err)
		f.fail(w, r, http.StatusBadGateway, fl.next, fmt.Sprintf("Federated login is unavailable: the identity provider %s cannot be reached (%v).", f.cfg.Issuer, err))
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, f.cfg.HTTPClient)
	tok, err := f.oauth(r, prov).Exchange(ctx, code, oauth2.VerifierOption(fl.verifier))
	if err != nil {
		f.p.log.Warn("portal: OIDC code exchange", "issuer", f.cfg.Issuer, "err", err)
		status, msg := http.StatusBadGateway, "the identity provider cannot be reached: "+err.Error()
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status, msg = http.StatusUnauthorized, "the identity provider refused the authorization code: "+clip(re.ErrorCode, 100)
			if re.ErrorDescription != "" {
				msg += " (" + clip(re.ErrorDescription, 300) + ")"
			}
		}
		f.fail(w, r, status, fl.next, "code: "+msg+". Log in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		f.fail(w, r, http.StatusBadGateway, fl.next, "id_token: the identity provider's answer holds no ID token (is the openid scope allowed for this client?).")
		return
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		f.p.log.Warn("portal: OIDC ID token refused", "issuer", f.cfg.Issuer, "err", err)
		f.fail(w, r, http.StatusUnauthorized, fl.next, "id_token: the identity provider's ID token does not verify: "+err.Error())
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fl.nonce)) != 1 {
		f.fail(w, r, http.StatusUnauthorized, fl.next, "nonce: the ID token was not issued for the login this browser started. Log in again.")
		return
	}
	me, err := f.p.clientFor(r, raw).Whoami(r.Context())
	if err != nil {
		f.fail(w, r, http.StatusForbidden, fl.next, "The server does not accept this account: "+err.Error())
		return
	}
	f.p.log.Info("portal: federated login", "user", me.Name, "issuer", idt.Issuer)
	setSession(w, r, raw, idt.Expiry)
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		// The session cookie is SameSite=Strict, and a browser does not
		// send it on a navigation that another site (the provider)
		// started, redirects included: a page of the portal's own
		// starts the next one.
		continueTo(w, fl.next)
		return
	}
	http.Redirect(w, r, fl.next, http.StatusSeeOther)
}

// clip shortens what the provider sent before it is shown.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var continuePage = template.Must(template.New("continue").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Logged in · Gigafactory</title>
<meta http-equiv="refresh" content="0; url={{.}}">
<link rel="stylesheet" href="/static/app.css"></head>
<body><main><p>You are logged in. <a id="continue" href="{{.}}">Continue</a></p></main></body></html>
`))

// continueTo answers a page that moves on to next by itself (a meta
// refresh: no script, which the CSP forbids inline).
func continueTo(w http.ResponseWriter, next string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = continuePage.Execute(w, next)
}
