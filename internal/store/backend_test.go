package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/store"
)

// The suite runs every test against every backend: SQLite always, and
// PostgreSQL when GF_TEST_POSTGRES holds a DSN (scripts/test.d/10-postgres.sh
// starts one). Under CI a missing PostgreSQL fails instead of skipping, so the
// PostgreSQL half of the suite cannot silently disappear.

// backend makes fresh, empty databases of one kind.
type backend struct {
	name string
	// fresh returns the DSN of a new empty database that lives until the
	// test ends.
	fresh func(tb testing.TB) string
}

func backends() []backend {
	return []backend{
		{name: store.SQLite, fresh: func(tb testing.TB) string {
			return "sqlite:" + filepath.Join(tb.TempDir(), "gf.db")
		}},
		{name: store.Postgres, fresh: freshPostgres},
	}
}

var unsafeIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// freshPostgres creates a schema of its own for the test and returns a DSN
// whose search_path points at it; the schema is dropped at cleanup.
func freshPostgres(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("GF_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("CI is set but GF_TEST_POSTGRES is not: the PostgreSQL half of the store suite would be lost (run scripts/test.sh, which starts one)")
		}
		tb.Skip("GF_TEST_POSTGRES not set; scripts/test.sh starts a PostgreSQL for it")
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := unsafeIdent.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	schema := "t_" + strings.Trim(name, "_") + "_" + hex.EncodeToString(suffix)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(admin, "?") {
		sep = "&"
	}
	return admin + sep + "search_path=" + schema
}

// eachBackend runs fn as a subtest per backend with a freshly opened, empty
// store that is closed when the subtest ends.
func eachBackend(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			fn(t, open(t, be.fresh(t)))
		})
	}
}

func open(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open(%s): %v", dsn, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
