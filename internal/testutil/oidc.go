package testutil

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// OIDCProvider is a real, minimal OpenID provider on loopback for tests of
// federated login: a discovery document, a JWKS with one RSA key, ID
// tokens signed RS256 with it (Sign), and, when built with device set, the
// device authorization grant (RFC 8628) whose token endpoint answers an ID
// token of DeviceClaims at once.
type OIDCProvider struct {
	// URL is the issuer.
	URL string
	key *rsa.PrivateKey
	kid string

	mu           sync.Mutex
	deviceClaims map[string]any
	devicePolls  int
}

// NewOIDCProvider starts a provider, stopped when the test ends. With
// device, its discovery document has a device_authorization_endpoint.
func NewOIDCProvider(tb testing.TB, device bool) *OIDCProvider {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &OIDCProvider{key: key, kid: "test-key-1"}
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
	if device {
		mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"device_code": "dev-code-1", "user_code": "ABCD-EFGH",
				"verification_uri": p.URL + "/activate", "expires_in": 300, "interval": 1})
		})
		mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
			if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.FormValue("device_code") != "dev-code-1" {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]string{"error": "invalid_grant"})
				return
			}
			p.mu.Lock()
			p.devicePolls++
			claims := p.deviceClaims
			p.mu.Unlock()
			if claims == nil {
				w.WriteHeader(http.StatusBadRequest)
				writeJSON(w, map[string]string{"error": "authorization_pending"})
				return
			}
			idToken, err := signJWT(p.key, p.kid, claims)
			if err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			writeJSON(w, map[string]any{"access_token": "opaque-access", "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
		})
	}
	return p
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
