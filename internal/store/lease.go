package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Leadership: several controllers may share one database; one of them, the
// leader, schedules and drives the sites. The leader holds the one row of
// leader_lease until expires_at and renews it; each new lease increments
// the epoch, the fencing token. A write the leader makes as leader carries
// its epoch in its context (WithFence), and inTx checks it against the
// row in the same transaction, so a deposed leader (paused past its lease,
// cut off from the database) cannot write once another has taken over.
//
// Lease times come from the database's clock, so controllers on machines
// whose clocks differ still agree on when a lease lapses.

// ErrFenced is returned by a write made under a fence (WithFence) whose
// epoch is no longer the lease's: another controller leads now.
var ErrFenced = errors.New("fenced: another controller holds the leadership")

// Controller is one controller that shares the database.
type Controller struct {
	ID        string
	Address   string
	StartedAt time.Time
	LastSeen  time.Time
	// Leader is set on the controller whose lease is current.
	Leader bool
}

// Lease is the leader lease as stored.
type Lease struct {
	Holder    string
	Epoch     int64
	ExpiresAt time.Time
	// Now is the database's clock when the lease was read.
	Now time.Time
}

// Current reports whether the lease is held and has not lapsed.
func (l Lease) Current() bool { return l.Holder != "" && l.ExpiresAt.After(l.Now) }

// nowExpr is the database's clock in microseconds since the epoch.
func (db *DB) nowExpr() string {
	if db.dialect == Postgres {
		return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)`
}

type fenceKey struct{}

// WithFence returns ctx carrying the leader's epoch: every write
// transaction run with it (and what derives from it) first checks that the
// lease's epoch is still epoch, and fails with ErrFenced otherwise.
func WithFence(ctx context.Context, epoch int64) context.Context {
	return context.WithValue(ctx, fenceKey{}, epoch)
}

// FenceOf returns the epoch WithFence put in ctx, 0 if none.
func FenceOf(ctx context.Context) int64 {
	e, _ := ctx.Value(fenceKey{}).(int64)
	return e
}

// checkFence runs first in a fenced transaction. On PostgreSQL it locks
// the lease row FOR SHARE until the transaction ends, so a takeover (which
// updates the row) waits for the write to commit and a write after a
// takeover sees the new epoch: no interleaving lets a deposed leader's
// write land after its successor took over. The transaction may idle
// only briefly: a leader paused in the middle of one (SIGSTOP) would
// otherwise hold that lock, and so block every takeover, for as long as
// it stays paused. On SQLite the write lock (BEGIN IMMEDIATE) serialises
// the check with any takeover already.
func (db *DB) checkFence(ctx context.Context, tx *sql.Tx, want int64) error {
	var got int64
	var err error
	if db.dialect == Postgres {
		var ignored string
		err = tx.QueryRowContext(ctx, `SELECT set_config('idle_in_transaction_session_timeout', '2s', true), epoch FROM leader_lease WHERE id = 1 FOR SHARE`).Scan(&ignored, &got)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT epoch FROM leader_lease WHERE id = 1`).Scan(&got)
	}
	if err != nil {
		return fmt.Errorf("check fence: %w", err)
	}
	if got != want {
		return fmt.Errorf("%w (epoch %d, lease at %d)", ErrFenced, want, got)
	}
	return nil
}

// CheckFence fails with ErrFenced when ctx carries a fence (WithFence)
// that is no longer the lease's epoch; nil without a fence. The leader
// calls it before acting on a site (cancelling a run) where no write comes
// first.
func (db *DB) CheckFence(ctx context.Context) error {
	if FenceOf(ctx) == 0 {
		return nil
	}
	return db.inTx(ctx, func(*sql.Tx) error { return nil })
}

// Heartbeat records that controller id, serving at address, is alive:
// its row is created (started now) or its last_seen moved to now.
// started says whether this is the controller's first beat since it
// started, which resets started_at.
func (db *DB) Heartbeat(ctx context.Context, id, address string, started bool) error {
	if id == "" {
		return errors.New("store: heartbeat: empty controller id")
	}
	now := db.nowExpr()
	set := `address = excluded.address, last_seen = excluded.last_seen`
	if started {
		set += `, started_at = excluded.started_at`
	}
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO controllers (id, address, started_at, last_seen) VALUES (?, ?, `+now+`, `+now+`)
ON CONFLICT (id) DO UPDATE SET `+set), id, address)
	if err != nil {
		return fmt.Errorf("store: heartbeat of controller %s: %w", id, err)
	}
	return nil
}

// RemoveController deletes controller id's row: it stopped cleanly, and
// gf controllers need not list it. A controller that died keeps its row,
// its last_seen saying when.
func (db *DB) RemoveController(ctx context.Context, id string) error {
	if _, err := db.w.ExecContext(ctx, db.q(`DELETE FROM controllers WHERE id = ?`), id); err != nil {
		return fmt.Errorf("store: remove controller %s: %w", id, err)
	}
	return nil
}

// AcquireLease makes holder the leader for ttl, with a new epoch, when the
// lease is free, lapsed, or already holder's (a controller restarted under
// the same id); force takes it whatever its state (SQLite, where the data
// directory's lock file already makes the controller the only one). It
// returns the new epoch, or 0 when another controller's lease is current.
func (db *DB) AcquireLease(ctx context.Context, holder string, ttl time.Duration, force bool) (int64, error) {
	if holder == "" {
		return 0, errors.New("store: acquire lease: empty holder")
	}
	if ttl <= 0 {
		return 0, fmt.Errorf("store: acquire lease: ttl must be positive, got %s", ttl)
	}
	now := db.nowExpr()
	cond := ` AND (holder = '' OR expires_at < ` + now + ` OR holder = ?)`
	args := []any{holder, ttl.Microseconds(), holder}
	if force {
		cond, args = "", args[:2]
	}
	var epoch int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if db.dialect == Postgres {
			// A paused leader's open transaction holds the row: give up
			// this try rather than wait on it (checkFence bounds how long).
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '1s'`); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, db.q(`UPDATE leader_lease SET holder = ?, epoch = epoch + 1, expires_at = `+now+` + ?, acquired_at = `+now+`
WHERE id = 1`+cond+` RETURNING epoch`), args...).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			epoch = 0
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: acquire lease for %s: %w", holder, err)
	}
	return epoch, nil
}

// RenewLease extends holder's lease of epoch to ttl from now. It reports
// false when the lease is no longer holder's in that epoch: leadership is
// lost. A lapsed lease that nobody took yet is renewed.
func (db *DB) RenewLease(ctx context.Context, holder string, epoch int64, ttl time.Duration) (bool, error) {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE leader_lease SET expires_at = `+db.nowExpr()+` + ? WHERE id = 1 AND holder = ? AND epoch = ?`),
		ttl.Microseconds(), holder, epoch)
	if err != nil {
		return false, fmt.Errorf("store: renew lease of %s (epoch %d): %w", holder, epoch, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: renew lease of %s (epoch %d): %w", holder, epoch, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease of epoch at once (a clean
// shutdown), so another controller need not wait for it to lapse. It does
// nothing when the lease is no longer holder's.
func (db *DB) ReleaseLease(ctx context.Context, holder string, epoch int64) error {
	_, err := db.w.ExecContext(ctx, db.q(`UPDATE leader_lease SET expires_at = 0 WHERE id = 1 AND holder = ? AND epoch = ?`), holder, epoch)
	if err != nil {
		return fmt.Errorf("store: release lease of %s (epoch %d): %w", holder, epoch, err)
	}
	return nil
}

// GetLease returns the leader lease.
func (db *DB) GetLease(ctx context.Context) (Lease, error) {
	var l Lease
	var exp, now int64
	err := db.r.QueryRowContext(ctx, `SELECT holder, epoch, expires_at, `+db.nowExpr()+` FROM leader_lease WHERE id = 1`).Scan(&l.Holder, &l.Epoch, &exp, &now)
	if err != nil {
		return Lease{}, fmt.Errorf("store: get lease: %w", err)
	}
	l.ExpiresAt, l.Now = fromMicros(exp), fromMicros(now)
	return l, nil
}

// Controllers returns every controller that ever beat, by id, the one
// whose lease is current marked Leader.
func (db *DB) Controllers(ctx context.Context) ([]Controller, error) {
	l, err := db.GetLease(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, address, started_at, last_seen FROM controllers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list controllers: %w", err)
	}
	defer rows.Close()
	var out []Controller
	for rows.Next() {
		var c Controller
		var started, seen int64
		if err := rows.Scan(&c.ID, &c.Address, &started, &seen); err != nil {
			return nil, fmt.Errorf("store: list controllers: %w", err)
		}
		c.StartedAt, c.LastSeen = fromMicros(started), fromMicros(seen)
		c.Leader = l.Current() && l.Holder == c.ID
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list controllers: %w", err)
	}
	return out, nil
}

// PendingJobIDs returns the ids of every pending job, by id: the leader
// compares them with what its scheduler knows, to pick up jobs that other
// controllers accepted.
func (db *DB) PendingJobIDs(ctx context.Context) ([]core.JobID, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id FROM jobs WHERE state = ? ORDER BY id`), string(core.StatePending))
	if err != nil {
		return nil, fmt.Errorf("store: pending job ids: %w", err)
	}
	defer rows.Close()
	var out []core.JobID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: pending job ids: %w", err)
		}
		out = append(out, core.JobID(id))
	}
	return out, rows.Err()
}
