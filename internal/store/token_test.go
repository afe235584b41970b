package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

func TestTokenIDsAndRevocation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, u := range []string{"ada", "bob"} {
			if err := db.CreateUser(ctx, core.User{Name: u, Role: core.RoleUser}); err != nil {
				t.Fatal(err)
			}
		}
		hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
		a1, err := db.IssueToken(ctx, "ada", hash("a1"), "laptop")
		if err != nil {
			t.Fatal(err)
		}
		b1, err := db.IssueToken(ctx, "bob", hash("b1"), "ci")
		if err != nil {
			t.Fatal(err)
		}
		a2, err := db.IssueToken(ctx, "ada", hash("a2"), "desktop")
		if err != nil {
			t.Fatal(err)
		}
		if !(a1.ID < b1.ID && b1.ID < a2.ID) {
			t.Fatalf("ids %d, %d, %d: want increasing", a1.ID, b1.ID, a2.ID)
		}
		got, err := db.ListTokens(ctx, "ada")
		if err != nil || len(got) != 2 || got[0].ID != a1.ID || got[1].Label != "desktop" {
			t.Fatalf("ListTokens(ada) = %+v, %v", got, err)
		}
		if got[0].LastUsed != nil {
			t.Errorf("unused token has last_used %v", got[0].LastUsed)
		}
		u, tok, err := db.Authenticate(ctx, hash("a1"))
		if err != nil || u.Name != "ada" || tok.ID != a1.ID || tok.LastUsed == nil {
			t.Fatalf("Authenticate = %+v, %+v, %v", u, tok, err)
		}
		if g, err := db.GetToken(ctx, a1.ID); err != nil || g.LastUsed == nil || g.User != "ada" {
			t.Errorf("GetToken after use = %+v, %v; want last_used set", g, err)
		}
		if err := db.RevokeToken(ctx, a1.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Authenticate(ctx, hash("a1")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoked token authenticates: err = %v", err)
		}
		if _, _, err := db.Authenticate(ctx, hash("a2")); err != nil {
			t.Errorf("the other token stopped working: %v", err)
		}
		if err := db.RevokeToken(ctx, a1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke twice: err = %v, want ErrNotFound", err)
		}
		if _, err := db.GetToken(ctx, a1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetToken(revoked): err = %v, want ErrNotFound", err)
		}
	})
}

func TestListJobsMaxBytes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		big := strings.Repeat("x", 10_000)
		var batch []core.Job
		for range 20 {
			batch = append(batch, jobOf("big", "ada", "p1", func(j *core.Job) { j.Spec.Env = map[string]string{"BIG": big} }))
		}
		if _, _, err := db.SubmitJobs(ctx, batch); err != nil {
			t.Fatal(err)
		}
		f := store.JobFilter{Limit: 1000, MaxBytes: 35_000}
		seen, pages := 0, 0
		for {
			page, next, err := db.ListJobs(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page) == 0 || len(page) > 3 {
				t.Fatalf("page %d holds %d jobs of ~10 kB under a 35 kB bound", pages, len(page))
			}
			seen += len(page)
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if seen != 20 || pages < 7 {
			t.Errorf("saw %d jobs on %d pages, want 20 on at least 7", seen, pages)
		}
		// A bound below one job's size still returns one job per page.
		page, next, err := db.ListJobs(ctx, store.JobFilter{MaxBytes: 1})
		if err != nil || len(page) != 1 || next == "" {
			t.Errorf("MaxBytes 1: %d jobs, next %q, %v; want 1 and a cursor", len(page), next, err)
		}
	})
}
