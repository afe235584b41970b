package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// OIDC configures federated login: bearer tokens that an OpenID provider
// (MyAccessID, Keycloak, any OIDC issuer) signed are accepted beside
// Gigafactory's own API tokens.
//
// A token is an ID token of Issuer whose audience holds Audience (the
// client id gf login uses). It is verified by github.com/coreos/go-oidc:
// the issuer, the audience, the expiry and the signature against the
// issuer's published keys (JWKS). Its subject is then mapped to a user: the
// user this (issuer, subject) created at its first login, or, at the first
// login, a new user of role user named by UsernameClaim (sub when absent)
// in the organisation that OrgClaim names.
type OIDC struct {
	// Issuer is the provider's issuer URL, as its discovery document
	// states it.
	Issuer string
	// Audience is the client id the tokens must be issued to.
	Audience string
	// UsernameClaim names the user at the first login; default
	// preferred_username, falling back to sub when the token lacks it.
	UsernameClaim string
	// OrgClaim is the claim naming the user's home organisation; default
	// schac_home_organization. A string or a list of strings.
	OrgClaim string
	// OrgMap maps values of OrgClaim to Gigafactory organisations
	// ("cnr.it" → "cnr"). A value it does not list is taken as an
	// organisation's own name; one naming no organisation gives a user
	// without one (it sees nothing until an administrator places it).
	OrgMap map[string]string
	// HTTPClient fetches the discovery document and the keys; nil: one
	// with a 10 s timeout.
	HTTPClient *http.Client
}

// Defaults of OIDC's claims.
const (
	DefaultUsernameClaim = "preferred_username"
	DefaultOrgClaim      = "schac_home_organization"
)

// WithOIDC turns federated login on. The provider is asked for its
// discovery document at the first token that needs it (not at start-up,
// so that a provider that is down does not stop gf serve), and again at
// most every oidcRetry after a failure.
func WithOIDC(cfg OIDC) Option {
	return func(s *Server) {
		if cfg.UsernameClaim == "" {
			cfg.UsernameClaim = DefaultUsernameClaim
		}
		if cfg.OrgClaim == "" {
			cfg.OrgClaim = DefaultOrgClaim
		}
		if cfg.HTTPClient == nil {
			cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		}
		s.oidc = &oidcLogin{cfg: cfg}
	}
}

// oidcRetry is how long a failed discovery is remembered: tokens in that
// time are refused without asking the provider again.
const oidcRetry = 10 * time.Second

// oidcLogin verifies federated bearer tokens.
type oidcLogin struct {
	cfg OIDC

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider
	failedAt time.Time
	lastErr  error
}

// errOIDCUnavailable is a token that could not be checked because the
// provider could not be reached; the caller is told 401, the log why.
var errOIDCUnavailable = errors.New("the OpenID provider is unavailable")

// discover returns the verifier, asking the provider for its discovery
// document the first time (and after a failure, once oidcRetry passed).
func (o *oidcLogin) discover() (*oidc.IDTokenVerifier, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, o.provider, nil
	}
	if !o.failedAt.IsZero() && time.Since(o.failedAt) < oidcRetry {
		return nil, nil, fmt.Errorf("%w: %v", errOIDCUnavailable, o.lastErr)
	}
	// The key set keeps this context for the keys it fetches later, so it
	// has no deadline; the client's timeout bounds each request.
	ctx := oidc.ClientContext(context.Background(), o.cfg.HTTPClient)
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		o.failedAt, o.lastErr = time.Now(), err
		return nil, nil, fmt.Errorf("%w: %v", errOIDCUnavailable, err)
	}
	o.provider = p
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.Audience})
	return o.verifier, o.provider, nil
}

// looksLikeJWT tells a federated token (three base64url parts) from
// Gigafactory's own (gf_...).
func looksLikeJWT(tok string) bool {
	return !strings.HasPrefix(tok, "gf_") && strings.Count(tok, ".") == 2
}

// maxJWTLen bounds a federated bearer token; real ID tokens are a few
// kilobytes at most.
const maxJWTLen = 16 << 10

// federated authenticates an OIDC bearer token: verified, then mapped to
// its user (created at the first login). A token that fails verification
// is errUnauthenticated; the reason goes to the log.
func (s *Server) federated(r *http.Request, pattern, raw string) (core.User, store.Token, error) {
	ctx := r.Context()
	v, _, err := s.oidc.discover()
	if err != nil {
		s.authFailed(r, pattern, err.Error())
		return core.User{}, store.Token{}, errUnauthenticated
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		s.authFailed(r, pattern, err.Error())
		return core.User{}, store.Token{}, errUnauthenticated
	}
	u, err := s.st.UserByIdentity(ctx, idt.Issuer, idt.Subject)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.firstLogin(ctx, idt)
	}
	if err != nil {
		return core.User{}, store.Token{}, err
	}
	exp := idt.Expiry
	return u, store.Token{User: u.Name, Label: "oidc " + idt.Issuer, Scope: core.ScopeAdmin, ExpiresAt: &exp}, nil
}

// firstLogin creates the user of a federated identity that has not logged
// in before: role user, named by the username claim, in the organisation
// the organisation claim maps to.
func (s *Server) firstLogin(ctx context.Context, idt *oidc.IDToken) (core.User, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return core.User{}, fmt.Errorf("oidc: claims of %q: %w", idt.Subject, err)
	}
	cfg := s.oidc.cfg
	name, _ := claims[cfg.UsernameClaim].(string)
	from := cfg.UsernameClaim
	if name == "" {
		name, from = idt.Subject, "sub"
	}
	name = strings.ToLower(name)
	if err := checkName(from, name); err != nil {
		return core.User{}, forbidden("cannot name a user after the token's claim %s: %v", from, err)
	}
	u := core.User{Name: name, Role: core.RoleUser, Kind: core.UserPerson, CreatedAt: time.Now().UTC()}
	if email, _ := claims["email"].(string); email != "" && checkEmail(email) == nil {
		u.Email = email
	}
	u.Org = s.orgOf(ctx, claims[cfg.OrgClaim])
	// The entry commits with the user (CreateFederatedUser's transaction).
	actx := store.WithAudit(ctx, store.AuditEntry{Actor: u.Name, Action: "user.create", Object: "user/" + u.Name,
		Detail: fmt.Sprintf("first federated login from %s, role %s, org %s", idt.Issuer, u.Role, u.Org)})
	err := s.st.CreateFederatedUser(actx, u, idt.Issuer, idt.Subject)
	if errors.Is(err, store.ErrExists) {
		// Another request of the same first login may have won the race.
		if again, err2 := s.st.UserByIdentity(ctx, idt.Issuer, idt.Subject); err2 == nil {
			return again, nil
		}
		return core.User{}, forbidden("user name %q (from the token's claim %s) belongs to another account; an administrator must resolve it", name, from)
	}
	if err != nil {
		return core.User{}, err
	}
	if err := s.st.CommitPendingAudit(actx); err != nil {
		return core.User{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "federated user created", slog.String("user", u.Name), slog.String("org", u.Org), slog.String("issuer", idt.Issuer))
	return u, nil
}

// orgOf maps the organisation claim (a string or a list of them) to an
// existing organisation: the first value that OrgMap or an organisation's
// own name matches; "" if none does.
func (s *Server) orgOf(ctx context.Context, claim any) string {
	var vals []string
	switch c := claim.(type) {
	case string:
		vals = []string{c}
	case []any:
		for _, v := range c {
			if str, ok := v.(string); ok {
				vals = append(vals, str)
			}
		}
	}
	for _, v := range vals {
		name, ok := s.oidc.cfg.OrgMap[v]
		if !ok {
			name = strings.ToLower(v)
		}
		if _, err := s.st.GetOrg(ctx, name); err == nil {
			return name
		}
	}
	return ""
}

// oidcInfo answers GET /api/v1/auth/oidc: what gf login needs to obtain a
// token.
type oidcInfo struct {
	// Enabled says whether this server accepts federated logins; the
	// other fields are empty when not.
	Enabled  bool   `json:"enabled"`
	Issuer   string `json:"issuer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// DeviceAuthorizationEndpoint is the issuer's, when its discovery
	// document has one (gf login needs it).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
}

func (s *Server) getOIDC(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return writeJSON(w, http.StatusOK, oidcInfo{})
	}
	info := oidcInfo{Enabled: true, Issuer: s.oidc.cfg.Issuer, ClientID: s.oidc.cfg.Audience}
	if _, p, err := s.oidc.discover(); err == nil {
		info.DeviceAuthorizationEndpoint = p.Endpoint().DeviceAuthURL
	}
	return writeJSON(w, http.StatusOK, info)
}
