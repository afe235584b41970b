package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
)

// The AI Act ledger's records (issue 15; rules in package aiact):
// contributions of jobs to models and the notifications they raised. The
// ledger itself is not stored: aiact.Evaluate recomputes it from the
// contributions, and the notifications' key (organisation, model, kind)
// keeps each one raised exactly once.

// RecordAIAct adds c to the ledger, once per (job, attempt, kind), and
// in the same transaction stores the notifications the ledger now raises
// that were not raised before; it answers those. A contribution already
// recorded changes nothing and raises nothing.
func (db *DB) RecordAIAct(ctx context.Context, c aiact.Contribution) ([]aiact.Notification, error) {
	var raised []aiact.Notification
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO aiact_contributions (job_id, attempt, kind, org, model, at, data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt, kind) DO NOTHING`),
			int64(c.Job), c.Attempt, string(c.Kind), c.Org, c.Model, micros(c.At), jsonText(c))
		if err != nil || !ok {
			return err
		}
		raised, err = db.raiseAIAct(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: record AI Act contribution of job %d (attempt %d, %s): %w", c.Job, c.Attempt, c.Kind, err)
	}
	return raised, nil
}

// RebuildAIAct evaluates the ledger again from its contributions and
// stores any notification it raises that is not stored yet (none, unless
// the process stopped between a contribution and its notifications); it
// answers those. The daemon calls it at start.
func (db *DB) RebuildAIAct(ctx context.Context) ([]aiact.Notification, error) {
	var raised []aiact.Notification
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		raised, err = db.raiseAIAct(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: rebuild AI Act ledger: %w", err)
	}
	return raised, nil
}

// raiseAIAct evaluates the ledger in tx and inserts the notifications not
// stored yet.
func (db *DB) raiseAIAct(ctx context.Context, tx *sql.Tx) ([]aiact.Notification, error) {
	cs, err := scanContributions(tx.QueryContext(ctx, db.q(`SELECT data FROM aiact_contributions`)))
	if err != nil {
		return nil, err
	}
	var raised []aiact.Notification
	now := time.Now().UnixMicro()
	for _, n := range aiact.Evaluate(cs).Notifications {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO aiact_notifications (org, model, kind, at, job_id, flop, data, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org, model, kind) DO NOTHING`),
			n.Org, n.Model, string(n.Kind), micros(n.At), int64(n.Job), n.FLOP, jsonText(n), now)
		if err != nil {
			return nil, err
		}
		if ok {
			raised = append(raised, n)
		}
	}
	return raised, nil
}

func scanContributions(rows *sql.Rows, err error) ([]aiact.Contribution, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []aiact.Contribution
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var c aiact.Contribution
		if err := fromJSON(data, &c); err != nil {
			return nil, fmt.Errorf("contribution: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AIActContributions lists every contribution of the ledger, for
// aiact.Evaluate (which needs them all: a fine-tune's base model may be
// another organisation's).
func (db *DB) AIActContributions(ctx context.Context) ([]aiact.Contribution, error) {
	cs, err := scanContributions(db.r.QueryContext(ctx, `SELECT data FROM aiact_contributions ORDER BY at, job_id, attempt, kind`))
	if err != nil {
		return nil, fmt.Errorf("store: AI Act contributions: %w", err)
	}
	return cs, nil
}

// AIActNotifications lists the notifications raised, in the order they
// became known; org "" lists every organisation's.
func (db *DB) AIActNotifications(ctx context.Context, org string) ([]aiact.Notification, error) {
	return queryList(ctx, db, "AI Act notifications", func(s interface{ Scan(...any) error }) (aiact.Notification, error) {
		var data string
		var n aiact.Notification
		if err := s.Scan(&data); err != nil {
			return n, err
		}
		err := fromJSON(data, &n)
		return n, err
	}, `SELECT data FROM aiact_notifications WHERE ? = '' OR org = ? ORDER BY at, org, model, kind`, org, org)
}
