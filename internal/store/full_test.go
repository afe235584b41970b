package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// sqliteFull returns the error a real SQLite database gives when it can
// grow no more: max_page_count caps it, as a full disk would.
func sqliteFull(t *testing.T) error {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "full.db")+"?_pragma=max_page_count(8)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := db.ExecContext(context.Background(), `INSERT INTO t VALUES (?)`, strings.Repeat("x", 4096)); err != nil {
			return err
		}
	}
	t.Fatal("1000 rows of 4 KiB went into a database of at most 8 pages")
	return nil
}

func TestDiskFull(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"nil":                         {nil, false},
		"ErrFull wrapped":             {fmt.Errorf("store: submit: %w", ErrFull), true},
		"ENOSPC from the file system": {fmt.Errorf("write gf.db-wal: %w", syscall.ENOSPC), true},
		"SQLITE_FULL from SQLite":     {fmt.Errorf("store: insert jobs: %w", sqliteFull(t)), true},
		"PostgreSQL disk_full":        {fmt.Errorf("store: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"}), true},
		"PostgreSQL unique_violation": {&pgconn.PgError{Code: "23505"}, false},
		"SQLITE_FULL as text only":    {errors.New("store: submit: database or disk is full (13)"), true},
		"not found":                   {fmt.Errorf("job 3: %w", ErrNotFound), false},
		"EIO":                         {syscall.EIO, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := DiskFull(tc.err); got != tc.want {
				t.Errorf("DiskFull(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
