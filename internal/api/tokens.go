package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"

	"github.com/gigafactory/gigafactory/internal/store"
)

// tokenInfo is a token as listed: never its secret.
type tokenInfo struct {
	store.Token
	// Current marks the token that authenticated the listing request.
	Current bool `json:"current"`
}

// newToken is the body of POST /api/v1/tokens.
type newToken struct {
	Label string `json:"label"`
	// Name is another name for Label (gf tokens create --name).
	Name string `json:"name,omitempty"`
	// Scope is read, submit or admin (the default: all the user may).
	Scope string `json:"scope,omitempty"`
	// ExpiresAt is when the token stops working (RFC 3339, in the
	// future, at most MaxTokenLife ahead); absent: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// User is the service account the token is for (its organisation's
	// org-admins and global admins); absent: the caller.
	User string `json:"user,omitempty"`
}

// MaxTokenLife is the furthest ahead a token's expiry may be set.
const MaxTokenLife = 5 * 365 * 24 * time.Hour

// tokenWithSecret answers a token's creation: the secret is shown once.
type tokenWithSecret struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Label     string     `json:"label"`
	Scope     string     `json:"scope"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Token is the secret, shown only in this answer.
	Token string `json:"token"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	me := userFrom(ctx)
	name := r.URL.Query().Get("user")
	if name == "" || name == "me" {
		name = me.Name
	}
	if err := checkText("user", name, maxQueryValue, false); err != nil {
		return err
	}
	u, err := s.visibleUser(ctx, me, name)
	if err != nil {
		return err
	}
	if u.Name != me.Name && !isAdmin(me) && !manages(me, u.Org) {
		return notFound("no user %q", name)
	}
	ts, err := s.st.ListTokens(ctx, u.Name)
	if err != nil {
		return err
	}
	cur := tokenFrom(ctx).ID
	out := make([]tokenInfo, len(ts))
	for i, t := range ts {
		out[i] = tokenInfo{Token: t, Current: t.ID == cur}
	}
	return writeJSON(w, http.StatusOK, list[tokenInfo]{Items: out})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	me := userFrom(ctx)
	var nt newToken
	if r.ContentLength != 0 {
		if err := decodeStrict(r, &nt); err != nil {
			return err
		}
	}
	switch {
	case nt.Label == "":
		nt.Label = nt.Name
	case nt.Name != "" && nt.Name != nt.Label:
		return invalidField("name", "name is another name for label; give one of them, or both the same")
	}
	if err := checkText("label", nt.Label, maxLabel, false); err != nil {
		return err
	}
	switch nt.Scope {
	case "":
		nt.Scope = core.ScopeAdmin
	case core.ScopeRead, core.ScopeSubmit, core.ScopeAdmin:
	default:
		return invalidField("scope", "want read, submit or admin, got %.32q", nt.Scope)
	}
	if nt.ExpiresAt != nil {
		now := time.Now()
		if !nt.ExpiresAt.After(now) {
			return invalidField("expires_at", "must be in the future, got %s", nt.ExpiresAt.Format(time.RFC3339))
		}
		if nt.ExpiresAt.Sub(now) > MaxTokenLife {
			return invalidField("expires_at", "at most %d days ahead", int(MaxTokenLife.Hours()/24))
		}
	}
	owner, err := s.tokenOwner(ctx, me, nt.User)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("user %s, label %q, scope %s", owner, nt.Label, nt.Scope)
	if nt.ExpiresAt != nil {
		detail += ", expires " + nt.ExpiresAt.UTC().Format(time.RFC3339)
	}
	// The entry commits with the token (GrantToken's transaction), which
	// names it token/<id> once the id is drawn.
	actx := s.auditCtx(ctx, "token.create", store.NewTokenObject, detail)
	tok, hash := NewToken()
	t, err := s.st.GrantToken(actx, store.TokenGrant{User: owner, Hash: hash, Label: nt.Label, Scope: nt.Scope, ExpiresAt: nt.ExpiresAt})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, tokenWithSecret{ID: t.ID, User: t.User, Label: t.Label, Scope: t.Scope, ExpiresAt: t.ExpiresAt, Token: tok})
}

// tokenOwner decides whose token POST /api/v1/tokens makes. A person
// makes their own; a service account makes none (a pipeline's token must
// not mint others): its organisation's org-admins and global admins make
// them for it, naming it in user. Another person's token is never made.
func (s *Server) tokenOwner(ctx context.Context, me core.User, name string) (string, error) {
	if name == "" || name == me.Name {
		if me.Kind == core.UserService {
			return "", forbidden("service account %s may not create tokens: an administrator of its organisation creates them (gf tokens create --user %s)", me.Name, me.Name)
		}
		return me.Name, nil
	}
	if err := checkName("user", name); err != nil {
		return "", err
	}
	u, err := s.visibleUser(ctx, me, name)
	if err != nil {
		return "", err
	}
	if !manages(me, u.Org) {
		return "", notFound("no user %q", name)
	}
	if u.Kind != core.UserService {
		return "", invalidField("user", "%s is not a service account: people create their own tokens", name)
	}
	return u.Name, nil
}

// whoami answers GET /api/v1/whoami: the caller, their roles and how they
// authenticated (core.Whoami).
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	me, t := userFrom(ctx), tokenFrom(ctx)
	out := core.Whoami{Name: me.Name, Email: me.Email, Org: me.Org, Kind: me.Kind, Role: me.Role, Roles: []string{me.Role}, Auth: "token",
		Token: &core.WhoamiToken{ID: t.ID, Label: t.Label, Scope: t.Scope, ExpiresAt: t.ExpiresAt}}
	if out.Kind == "" {
		out.Kind = core.UserPerson
	}
	if t.ID == 0 {
		out.Auth = "oidc"
	}
	ms, err := s.st.Memberships(ctx, me.Name)
	if err != nil {
		return err
	}
	for _, m := range ms {
		out.Roles = append(out.Roles, m.Role+":"+m.Project)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	me := userFrom(ctx)
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return invalidField("id", "want a positive token id, got %.20q", raw)
	}
	t, err := s.st.GetToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no token %d", id)
	}
	if err != nil {
		return err
	}
	if t.User != me.Name && !isAdmin(me) {
		owner, err := s.visibleUser(ctx, me, t.User)
		if err != nil || !manages(me, owner.Org) {
			return notFound("no token %d", id) // another tenant's token is unknown
		}
	}
	// The entry commits with the deletion (RevokeToken's transaction).
	actx := s.auditCtx(ctx, "token.revoke", "token/"+raw, "user "+t.User)
	if err := s.st.RevokeToken(actx, id); errors.Is(err, store.ErrNotFound) {
		return notFound("no token %d", id)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
