package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

type ctxKey int

const userKey ctxKey = 0

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

// tokenCache keeps recent token lookups for a short while so that a burst
// of requests does not cost a store read each.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedUser
}

type cachedUser struct {
	u   core.User
	exp time.Time
}

func (s *Server) authenticate(r *http.Request) (core.User, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return core.User{}, errUnauthenticated
	}
	key := string(HashToken(tok))
	now := time.Now()
	s.tokens.mu.Lock()
	c, hit := s.tokens.m[key]
	s.tokens.mu.Unlock()
	if hit && now.Before(c.exp) {
		return c.u, nil
	}
	u, err := s.st.UserByToken(r.Context(), []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return core.User{}, errUnauthenticated
	}
	if err != nil {
		return core.User{}, err
	}
	s.tokens.mu.Lock()
	if len(s.tokens.m) > 10000 {
		s.tokens.m = map[string]cachedUser{}
	}
	s.tokens.m[key] = cachedUser{u: u, exp: now.Add(10 * time.Second)}
	s.tokens.mu.Unlock()
	return u, nil
}

func userFrom(ctx context.Context) core.User {
	u, _ := ctx.Value(userKey).(core.User)
	return u
}

func requireAdmin(u core.User) error {
	if u.Role != core.RoleAdmin {
		return forbidden("user %s may not do this: administrators only", u.Name)
	}
	return nil
}
