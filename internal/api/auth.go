package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

type ctxKey int

const (
	userKey ctxKey = iota
	tokenKey
)

// NewToken returns a fresh random API token and the hash the store keeps.
func NewToken() (token string, hash []byte) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	token = "gf_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is how tokens are kept: only their SHA-256.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// maxTokenLen bounds the bearer token read from a header; real ones are 35
// characters.
const maxTokenLen = 256

// authenticate looks the bearer token up in the store on every request.
// There is no cache: a revoked token fails on the very next request, on
// every controller that shares the store. It costs one indexed read (see
// README.md for the measured cost). An expired token fails as a revoked
// one does. With federated login on (WithOIDC), a bearer that is a JWT is
// verified against the issuer instead (oidc.go).
func (s *Server) authenticate(r *http.Request, pattern string) (core.User, store.Token, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || tok == "":
		s.authFailed(r, pattern, "missing bearer")
		return core.User{}, store.Token{}, errUnauthenticated
	case s.oidc != nil && looksLikeJWT(tok) && len(tok) <= maxJWTLen:
		return s.federated(r, pattern, tok)
	case len(tok) > maxTokenLen:
		s.authFailed(r, pattern, "token too long")
		return core.User{}, store.Token{}, errUnauthenticated
	}
	u, t, err := s.st.Authenticate(r.Context(), HashToken(tok))
	if errors.Is(err, store.ErrExpired) {
		s.authFailed(r, pattern, "expired token")
		return core.User{}, store.Token{}, errUnauthenticated
	}
	if errors.Is(err, store.ErrNotFound) {
		s.authFailed(r, pattern, "unknown token")
		return core.User{}, store.Token{}, errUnauthenticated
	}
	if err != nil {
		return core.User{}, store.Token{}, err
	}
	return u, t, nil
}

// authFailed logs a refused authentication at warn: why, from where and
// for which route, never the token nor any part of it.
func (s *Server) authFailed(r *http.Request, pattern, reason string) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "authentication failed",
		slog.String("reason", reason), slog.String("remote", r.RemoteAddr),
		slog.String("method", r.Method), slog.String("path", pattern))
	s.auditAuthFailure(r, pattern, reason)
}

// submitRoutes are the routes beyond reads that a token of scope submit
// may call: submitting and cancelling jobs.
var submitRoutes = map[string]bool{
	"POST /api/v1/jobs":             true,
	"POST /api/v1/jobs:batch":       true,
	"POST /api/v1/jobs:cancel":      true,
	"DELETE /api/v1/jobs/{id}":      true,
	"POST /api/v1/jobs/{id}/cancel": true,
}

// checkScope refuses (403) a request that the token's scope does not
// allow: read may only GET (and HEAD), submit may also submit and cancel
// jobs, admin may call anything. The scope only narrows: what the user's
// role forbids, the handlers refuse whatever the scope. An unknown scope
// allows nothing.
func checkScope(t store.Token, method, pattern string) error {
	read := method == http.MethodGet || method == http.MethodHead
	switch t.Scope {
	case core.ScopeAdmin:
		return nil
	case core.ScopeSubmit:
		if read || submitRoutes[method+" "+pattern] {
			return nil
		}
		return forbidden("this token's scope is submit: it may read, and submit and cancel jobs, not %s %s; use a token of scope admin", method, pattern)
	case core.ScopeRead:
		if read {
			return nil
		}
		return forbidden("this token's scope is read: it may not %s %s; use a token of scope submit or admin", method, pattern)
	}
	return forbidden("this token's scope %q allows nothing", t.Scope)
}

// rateKey is what the rate limiter counts a request against: the API
// token, or the user of a federated token (which has no id).
func rateKey(u core.User, t store.Token) string {
	if t.ID == 0 {
		return "user/" + u.Name
	}
	return strconv.FormatInt(t.ID, 10)
}

func userFrom(ctx context.Context) core.User {
	u, _ := ctx.Value(userKey).(core.User)
	return u
}

func tokenFrom(ctx context.Context) store.Token {
	t, _ := ctx.Value(tokenKey).(store.Token)
	return t
}

// What a role may do is decided in authz.go.
