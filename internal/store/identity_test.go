package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

func TestTokenScopeAndExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.CreateUser(ctx, core.User{Name: "ci", Role: core.RoleUser, Kind: core.UserService}); err != nil {
			t.Fatal(err)
		}
		hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
		past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
		cases := []struct {
			name      string
			grant     store.TokenGrant
			wantScope string
			wantErr   error // of Authenticate
		}{
			{"default scope is admin", store.TokenGrant{User: "ci", Hash: hash("d"), Label: "d"}, core.ScopeAdmin, nil},
			{"read, expiring later", store.TokenGrant{User: "ci", Hash: hash("r"), Scope: core.ScopeRead, ExpiresAt: &future}, core.ScopeRead, nil},
			{"expired", store.TokenGrant{User: "ci", Hash: hash("x"), Scope: core.ScopeSubmit, ExpiresAt: &past}, core.ScopeSubmit, store.ErrExpired},
		}
		for _, tc := range cases {
			tok, err := db.GrantToken(ctx, tc.grant)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := db.GetToken(ctx, tok.ID)
			if err != nil || got.Scope != tc.wantScope || (tc.grant.ExpiresAt == nil) != (got.ExpiresAt == nil) {
				t.Errorf("%s: GetToken = %+v, %v; want scope %s", tc.name, got, err, tc.wantScope)
			}
			u, at, err := db.Authenticate(ctx, tc.grant.Hash)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: Authenticate err = %v, want %v and ErrNotFound", tc.name, err, tc.wantErr)
				}
				continue
			}
			if err != nil || u.Kind != core.UserService || at.Scope != tc.wantScope {
				t.Errorf("%s: Authenticate = %+v, %+v, %v", tc.name, u, at, err)
			}
		}
	})
}

func TestFederatedUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.UserByIdentity(ctx, "https://idp", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown identity: err = %v, want ErrNotFound", err)
		}
		u := core.User{Name: "ada", Role: core.RoleUser, CreatedAt: time.Now()}
		if err := db.CreateFederatedUser(ctx, u, "https://idp", "sub-1"); err != nil {
			t.Fatal(err)
		}
		got, err := db.UserByIdentity(ctx, "https://idp", "sub-1")
		if err != nil || got.Name != "ada" || got.Kind != core.UserPerson {
			t.Fatalf("UserByIdentity = %+v, %v", got, err)
		}
		// The same subject at another issuer is another identity.
		if _, err := db.UserByIdentity(ctx, "https://other", "sub-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("other issuer: err = %v, want ErrNotFound", err)
		}
		// A taken name, and a taken identity, are refused whole.
		for _, tc := range []struct {
			name, user, subject string
		}{{"name taken", "ada", "sub-2"}, {"identity taken", "bob", "sub-1"}} {
			err := db.CreateFederatedUser(ctx, core.User{Name: tc.user, Role: core.RoleUser}, "https://idp", tc.subject)
			if !errors.Is(err, store.ErrExists) {
				t.Errorf("%s: err = %v, want ErrExists", tc.name, err)
			}
		}
		if _, err := db.GetUser(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused federated user was stored: %v", err)
		}
	})
}
