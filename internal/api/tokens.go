package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

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
}

// tokenWithSecret answers a token's creation: the secret is shown once.
type tokenWithSecret struct {
	ID    int64  `json:"id"`
	User  string `json:"user"`
	Label string `json:"label"`
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
	if err := checkText("label", nt.Label, maxLabel, false); err != nil {
		return err
	}
	tok, hash := NewToken()
	t, err := s.st.IssueToken(ctx, me.Name, hash, nt.Label)
	if err != nil {
		return err
	}
	if err := s.audit(ctx, "token.create", "token/"+strconv.FormatInt(t.ID, 10), fmt.Sprintf("user %s, label %q", me.Name, nt.Label)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, tokenWithSecret{ID: t.ID, User: t.User, Label: t.Label, Token: tok})
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
	if err := s.audit(ctx, "token.revoke", "token/"+raw, "user "+t.User); err != nil {
		return err
	}
	if err := s.st.RevokeToken(ctx, id); errors.Is(err, store.ErrNotFound) {
		return notFound("no token %d", id)
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}
