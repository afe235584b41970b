package store

import (
	"errors"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrFull is what DiskFull errors are: the store could not write for want
// of space, and the write was not made (SQLite rolls the transaction back;
// PostgreSQL aborts it).
var ErrFull = errors.New("the store's disk is full")

// DiskFull reports whether err is the store's disk being full: ErrFull,
// SQLite's SQLITE_FULL (its primary code, whatever the extended one),
// ENOSPC from the file system, or PostgreSQL's disk_full (SQLSTATE 53100).
// The API answers these 507 Insufficient Storage.
func DiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrFull) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" {
		return true
	}
	// A layer that wrapped it with %v keeps only the text.
	msg := err.Error()
	return strings.Contains(msg, "(SQLITE_FULL)") || strings.Contains(msg, "database or disk is full")
}
