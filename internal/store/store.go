// Package store is Gigafactory's one persistence layer: a *DB over
// database/sql that speaks SQLite (modernc.org/sqlite, pure Go) and
// PostgreSQL (pgx) with the same schema, the same SQL text and the same
// tests.
//
// It owns organisations, projects, users and API-token hashes, jobs with
// their event history, a tamper-evident audit log and a small key/value
// table for controller state. Schema migrations are embedded and applied by
// Open.
//
// Job submissions go through a group committer: concurrent SubmitJobs calls
// are coalesced into one transaction, so many durable submissions cost one
// commit. See README.md for the design.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gigafactory/gigafactory/internal/metrics"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Errors callers test for with errors.Is. Returned errors wrap them with the
// operation and the ids involved.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrClosed   = errors.New("store closed")
)

// Dialect names returned by DB.Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	dialect string
	// w takes every write. For SQLite it is a single connection whose
	// transactions BEGIN IMMEDIATE, so writers in this process queue in
	// database/sql instead of failing with SQLITE_BUSY.
	w *sql.DB
	// r serves reads. For SQLite it is a separate read-only pool (WAL lets
	// readers run beside the writer); for PostgreSQL it is w.
	r *sql.DB
	// sqlitePath is the SQLite file, "" for PostgreSQL and :memory:.
	sqlitePath string

	queries sync.Map // SQL text with ? -> text for this dialect
	auth    prepared // Authenticate's statement (account.go)

	gc     *committer
	signer atomic.Pointer[auditSigner] // nil: audit checkpoints off
	// txSeconds times write transactions (submissions' group commits
	// included), for /metrics.
	txSeconds *metrics.Histogram
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store named by dsn and applies any
// pending migrations.
//
// A dsn starting with postgres:// or postgresql:// is a PostgreSQL
// connection string (a search_path=SCHEMA parameter selects a schema).
// Anything else is a SQLite database file, optionally written "sqlite:PATH";
// missing parent directories are created. ":memory:" is a private in-memory
// SQLite database for tests, gone at Close.
// SQLite runs in WAL mode with synchronous=NORMAL: an acknowledged commit
// survives the process being killed (not a power cut of the machine).
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{txSeconds: metrics.NewHistogram(TxBuckets)}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.dialect = Postgres
		db.w, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		db.w.SetMaxOpenConns(16)
		db.w.SetMaxIdleConns(16)
		db.r = db.w
	default:
		db.dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:")
		if path == "" {
			return nil, errors.New("store: empty database path")
		}
		if path == ":memory:" {
			// One connection serves reads and writes: every connection
			// to :memory: would otherwise be a database of its own.
			db.w, err = sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(1)&_txlock=immediate")
			if err != nil {
				return nil, fmt.Errorf("store: open sqlite :memory:: %w", err)
			}
			db.r = db.w
			break
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
		}
		db.w, err = sql.Open("sqlite", "file:"+path+"?"+sqlitePragmas+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
		}
		// The reader pool opens after the migrations, below.
		db.sqlitePath = path
	}
	if db.dialect == SQLite {
		db.w.SetMaxOpenConns(1)
		db.w.SetMaxIdleConns(1)
		db.w.SetConnMaxLifetime(0)
		db.w.SetConnMaxIdleTime(0)
	}
	if err := db.connect(ctx); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("store: connect %s: %w", db.dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	if db.sqlitePath != "" {
		path := db.sqlitePath
		db.r, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		if err != nil {
			db.w.Close()
			return nil, fmt.Errorf("store: open sqlite reader %s: %w", path, err)
		}
		db.r.SetMaxOpenConns(4)
		db.r.SetMaxIdleConns(4)
	}
	db.gc = newCommitter(db, defaultWindow, defaultMaxBatch)
	return db, nil
}

// connect makes the first connection. Switching a new SQLite file to WAL
// can fail with SQLITE_BUSY without waiting on the busy timeout when another
// process opens the same file at that moment, so that is retried.
func (db *DB) connect(ctx context.Context) error {
	for delay := 5 * time.Millisecond; ; delay *= 2 {
		err := db.w.PingContext(ctx)
		if err == nil || db.dialect != SQLite || !strings.Contains(err.Error(), "SQLITE_BUSY") || delay > 2*time.Second {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
	}
}

// sqlitePragmas make SQLite durable across a process crash (WAL with
// synchronous=NORMAL: a commit is in the WAL file, in the OS's hands, before
// it returns) and patient with other processes' locks.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", db.dialect, err)
	}
	return nil
}

// Close stops the group committer (answering queued submissions first) and
// closes the connections.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.gc.stop()
		var errs []error
		if db.r != db.w {
			errs = append(errs, db.r.Close())
		}
		errs = append(errs, db.w.Close())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// Dialect reports the backend: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// q returns query written with ? placeholders in this DB's dialect:
// PostgreSQL wants $1, $2, ... Our SQL never holds a literal '?'.
func (db *DB) q(query string) string {
	if db.dialect != Postgres {
		return query
	}
	if v, ok := db.queries.Load(query); ok {
		return v.(string)
	}
	v := rebind(query)
	db.queries.Store(query, v)
	return v
}

func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// TxBuckets are the upper bounds, in seconds, of the write-transaction
// histogram.
var TxBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// TxSeconds is the histogram of write transactions' durations (from begin
// to commit, waiting for the writer included).
func (db *DB) TxSeconds() *metrics.Histogram { return db.txSeconds }

// inTx runs fn in a write transaction and commits it.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	defer func(t0 time.Time) { db.txSeconds.Observe(time.Since(t0)) }(time.Now())
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// A leader's write fails here, changing nothing, once another
	// controller has taken the lease over (lease.go).
	if epoch := FenceOf(ctx); epoch != 0 {
		if err := db.checkFence(ctx, tx, epoch); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	// The audit entries a caller attached with WithAudit go in with the
	// change they record.
	p := pendingFrom(ctx)
	if p != nil {
		if err := p.appendTx(ctx, db, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("audit: %w", err)
		}
	}
	err = tx.Commit()
	p.done(err == nil)
	return err
}

// Times are stored as integer microseconds since the epoch, UTC. The zero
// time is stored as 0 and read back as the zero time.

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func microsPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func fromMicrosPtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// norm is the form a time has after a round trip through the store.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}
