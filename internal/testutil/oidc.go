package testutil

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// OIDCProvider is a real, minimal OpenID provider on loopback for tests of
// federated login: a discovery document, a JWKS with one RSA key, ID
// tokens signed RS256 with it (Sign); the authorization code grant with
// PKCE (S256 only), whose authorization endpoint approves at once the user
// ApproveCode names (or answers error=access_denied while none is named);
// and, when built with device set, the device authorization grant (RFC
// 8628) whose token endpoint answers an ID token of the claims
// ApproveDevice gave.
type OIDCProvider struct {
	// URL is the issuer. A test may name the same server otherwise
	// before its first use (http://localhost:PORT, another site than
	// 127.0.0.1 to a browser).
	URL string
	key *rsa.PrivateKey
	kid string

	mu           sync.Mutex
	deviceClaims map[string]any
	devicePolls  int
	codeClaims   map[string]any
	codeSecret   string
	confirm      bool
	codes        map[string]codeGrant
}

// codeGrant is what an authorization code stands for until it is redeemed
// (once).
type codeGrant struct {
	claims      map[string]any
	clientID    string
	redirectURI string
	challenge   string
}

// NewOIDCProvider starts a provider, stopped when the test ends. With
// device, its discovery document has a device_authorization_endpoint.
func NewOIDCProvider(tb testing.TB, device bool) *OIDCProvider {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &OIDCProvider{key: key, kid: "test-key-1", codes: map[string]codeGrant{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{
			"issuer":                                p.URL,
			"authorization_endpoint":                p.URL + "/authorize",
			"token_endpoint":                        p.URL + "/token",
			"jwks_uri":                              p.URL + "/jwks",
			"response_types_supported":              []string{"code"},
			"grant_types_supported":                 []string{"authorization_code"},
			"code_challenge_methods_supported":      []string{"S256"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		}
		if device {
			doc["device_authorization_endpoint"] = p.URL + "/device"
		}
		writeJSON(w, doc)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: p.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", p.authorize)
	if device {
		mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"device_code": "dev-code-1", "user_code": "ABCD-EFGH",
				"verification_uri": p.URL + "/activate", "expires_in": 300, "interval": 1})
		})
	}
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		switch gt := r.FormValue("grant_type"); {
		case gt == "authorization_code":
			p.redeemCode(w, r)
		case device && gt == "urn:ietf:params:oauth:grant-type:device_code":
			p.pollDevice(w, r)
		default:
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+gt)
		}
	})
	return p
}

func (p *OIDCProvider) pollDevice(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("device_code") != "dev-code-1" {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown device_code")
		return
	}
	p.mu.Lock()
	p.devicePolls++
	claims := p.deviceClaims
	p.mu.Unlock()
	if claims == nil {
		tokenError(w, http.StatusBadRequest, "authorization_pending", "")
		return
	}
	idToken, err := signJWT(p.key, p.kid, claims)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"access_token": "opaque-access", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
}

// authorize is the authorization endpoint: it checks the request
// (response_type=code, a client id, an absolute redirect_uri, an S256 code
// challenge), then sends the browser back to redirect_uri with a code for
// the approved user's claims, or with error=access_denied when
// ApproveCode named none. The ID token will carry the request's nonce and
// have the client id as its audience.
func (p *OIDCProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() {
		http.Error(w, "redirect_uri: want an absolute URL", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		u := *redirect
		u.RawQuery = params.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case q.Get("client_id") == "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"client_id is missing"}})
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE: an S256 code_challenge is required"}})
		return
	}
	p.mu.Lock()
	claims := p.codeClaims
	p.mu.Unlock()
	if claims == nil {
		back(url.Values{"error": {"access_denied"}, "error_description": {"the user declined"}})
		return
	}
	c := map[string]any{}
	for k, v := range claims {
		c[k] = v
	}
	now := time.Now()
	c["iss"], c["aud"], c["iat"], c["exp"] = p.URL, q.Get("client_id"), now.Unix(), now.Add(time.Hour).Unix()
	if n := q.Get("nonce"); n != "" {
		c["nonce"] = n
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = codeGrant{claims: c, clientID: q.Get("client_id"), redirectURI: redirect.String(), challenge: q.Get("code_challenge")}
	confirm := p.confirm
	p.mu.Unlock()
	if confirm {
		u := *redirect
		params := url.Values{"code": {code}, "state": {q.Get("state")}}
		u.RawQuery = params.Encode()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>Test provider</title></head><body><main>` +
			`<a id="approve" href="` + html.EscapeString(u.String()) + `">Approve</a></main></body></html>`))
		return
	}
	back(url.Values{"code": {code}})
}

// ConfirmCode makes the authorization endpoint answer a page whose link
// #approve the user follows (a navigation the provider's page starts, as
// a real provider's login form does) instead of redirecting at once.
func (p *OIDCProvider) ConfirmCode(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.confirm = on
}

// redeemCode is the token endpoint's authorization_code grant: the code
// once, the same client and redirect_uri, and the PKCE verifier whose
// S256 digest is the challenge (RFC 7636); a client secret when
// ApproveCode set one.
func (p *OIDCProvider) redeemCode(w http.ResponseWriter, r *http.Request) {
	clientID, secret, basic := r.BasicAuth()
	if basic {
		clientID, _ = url.QueryUnescape(clientID)
		secret, _ = url.QueryUnescape(secret)
	} else {
		clientID, secret = r.FormValue("client_id"), r.FormValue("client_secret")
	}
	code := r.FormValue("code")
	p.mu.Lock()
	want := p.codeSecret
	if want != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		p.mu.Unlock() // a client that fails to authenticate spends no code
		tokenError(w, http.StatusUnauthorized, "invalid_client", "wrong client secret")
		return
	}
	g, ok := p.codes[code]
	delete(p.codes, code)
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
	switch {
	case !ok:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
	case clientID != g.clientID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
	case r.FormValue("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
	case r.FormValue("code_verifier") == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
	default:
		idToken, err := signJWT(p.key, p.kid, g.claims)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"access_token": "opaque-access", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	}
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// ApproveCode makes the authorization endpoint approve every request at
// once for a user of claims (sub and the rest; the provider adds iss, aud,
// iat, exp and nonce); nil makes it answer error=access_denied. A
// non-empty secret is then required of the client at the token endpoint.
func (p *OIDCProvider) ApproveCode(claims map[string]any, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codeClaims, p.codeSecret = claims, secret
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ApproveDevice makes the device grant's token endpoint answer an ID token
// of claims (until then it answers authorization_pending).
func (p *OIDCProvider) ApproveDevice(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deviceClaims = claims
}

// Claims returns an ID token's usual claims from this issuer for subject,
// audience aud, valid for an hour; tests change or add to them.
func (p *OIDCProvider) Claims(sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": p.URL, "sub": sub, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Sign returns claims as a compact JWS signed RS256 with the provider's key.
func (p *OIDCProvider) Sign(tb testing.TB, claims map[string]any) string {
	return SignJWT(tb, p.key, p.kid, claims)
}

// SignJWT signs claims RS256 with key, naming kid in the header.
func SignJWT(tb testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	s, err := signJWT(key, kid, claims)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func signJWT(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
