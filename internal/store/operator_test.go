package store_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
	"github.com/google/go-cmp/cmp"
)

// TestOperatorSites: an operator's sites come back from every read of a
// user (by name, in a list, with a token); other users have none.
func TestOperatorSites(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users := map[string][]string{"op": {"hpc-a", "hpc-b"}, "plain": nil}
		for name, sites := range users {
			role := core.RoleUser
			if sites != nil {
				role = core.RoleOperator
			}
			if err := db.CreateUser(ctx, core.User{Name: name, Role: role, Sites: sites}); err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256([]byte("token of " + name))
			if err := db.CreateToken(ctx, name, h[:], "t"); err != nil {
				t.Fatal(err)
			}
			got, err := db.GetUser(ctx, name)
			if err != nil || !cmp.Equal(got.Sites, sites) {
				t.Errorf("GetUser(%s).Sites = %v, %v; want %v", name, got.Sites, err, sites)
			}
			got, _, err = db.Authenticate(ctx, h[:])
			if err != nil || !cmp.Equal(got.Sites, sites) {
				t.Errorf("Authenticate(%s).Sites = %v, %v; want %v", name, got.Sites, err, sites)
			}
		}
		all, err := db.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range all {
			if want, ok := users[u.Name]; ok && !cmp.Equal(u.Sites, want) {
				t.Errorf("ListUsers: %s's sites = %v, want %v", u.Name, u.Sites, want)
			}
		}
	})
}
