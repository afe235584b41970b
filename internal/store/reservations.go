package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Advance reservations (issue 17): the rows the daemon gives the engine at
// start (engine.Reservation), so that a booked window survives restarts.
// The scheduler's view of one (its nodes, its state) is not stored.

const reservationCols = `id, site, model, accelerators, start_at, end_at, projects, created_at, created_by`

func scanReservation(s interface{ Scan(...any) error }) (core.Reservation, error) {
	var r core.Reservation
	var start, end, created int64
	var projects string
	if err := s.Scan(&r.ID, &r.Site, &r.Model, &r.Accelerators, &start, &end, &projects, &created, &r.CreatedBy); err != nil {
		return core.Reservation{}, err
	}
	r.Start, r.End, r.CreatedAt = fromMicros(start), fromMicros(end), fromMicros(created)
	if err := fromJSON(projects, &r.Projects); err != nil {
		return core.Reservation{}, err
	}
	return r, nil
}

// CreateReservation stores a new reservation, with the audit entries
// attached to ctx (WithAudit) in the same transaction; ErrExists if its
// id is taken.
func (db *DB) CreateReservation(ctx context.Context, r core.Reservation) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO reservations (`+reservationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			r.ID, r.Site, r.Model, r.Accelerators, micros(r.Start), micros(r.End), jsonText(r.Projects), micros(r.CreatedAt), r.CreatedBy)
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("store: create reservation %s: %w", r.ID, err)
	}
	return err
}

// GetReservation returns reservation id; ErrNotFound if there is none.
func (db *DB) GetReservation(ctx context.Context, id string) (core.Reservation, error) {
	r, err := scanReservation(db.r.QueryRowContext(ctx, db.q(`SELECT `+reservationCols+` FROM reservations WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Reservation{}, ErrNotFound
	}
	if err != nil {
		return core.Reservation{}, fmt.Errorf("store: get reservation %s: %w", id, err)
	}
	return r, nil
}

// ListReservations returns every stored reservation by start time, then id.
func (db *DB) ListReservations(ctx context.Context) ([]core.Reservation, error) {
	return queryList(ctx, db, "list reservations", scanReservation,
		`SELECT `+reservationCols+` FROM reservations ORDER BY start_at, id`)
}

// DeleteReservation removes reservation id, with the audit entries
// attached to ctx in the same transaction; ErrNotFound if there is none.
func (db *DB) DeleteReservation(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`DELETE FROM reservations WHERE id = ?`), id)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: delete reservation %s: %w", id, err)
	}
	return err
}
