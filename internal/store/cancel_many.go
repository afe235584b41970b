package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// GetJobs returns the jobs ids names, in the order of ids; ErrNotFound
// (naming the first missing id) if one does not exist. A batch cancel reads
// a thousand jobs in a few queries this way, not a thousand.
func (db *DB) GetJobs(ctx context.Context, ids []core.JobID) ([]core.Job, error) {
	byID := make(map[core.JobID]core.Job, len(ids))
	for lo := 0; lo < len(ids); lo += insertChunk {
		chunk := ids[lo:min(lo+insertChunk, len(ids))]
		marks := strings.Repeat("?, ", len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = int64(id)
		}
		rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE id IN (`+marks[:len(marks)-2]+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("store: get %d jobs: %w", len(chunk), err)
		}
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: get jobs: %w", err)
			}
			byID[j.ID] = j
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("store: get jobs: %w", err)
		}
	}
	out := make([]core.Job, len(ids))
	for i, id := range ids {
		j, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("store: get job %d: %w", id, ErrNotFound)
		}
		out[i] = j
	}
	return out, nil
}

// UpdateJobsIf is UpdateJobIf for many jobs in one transaction (one
// commit, one fsync): jobs[i] is written, with its event evs[i], only if
// it is still in state from, and audit[i] (when its Action is set) is
// appended in the same transaction for each job written, so a change and
// its audit entry commit together or not at all. It reports per job
// whether it was written; a job that does not exist is not. It writes
// the columns UpdateJobIf writes, except a placement's spec: it is meant
// for changes of many pending jobs at once, such as a batch cancel.
func (db *DB) UpdateJobsIf(ctx context.Context, jobs []core.Job, from core.State, evs []core.Event, audit []AuditEntry) ([]bool, error) {
	if len(evs) != len(jobs) || (audit != nil && len(audit) != len(jobs)) {
		return nil, fmt.Errorf("store: update %d jobs: %d events and %d audit entries given, want one each", len(jobs), len(evs), len(audit))
	}
	for i, j := range jobs {
		switch {
		case !j.State.Valid():
			return nil, fmt.Errorf("store: update jobs: job %d (%d of %d): invalid state %q", j.ID, i, len(jobs), j.State)
		case j.State == core.StateStarting:
			return nil, fmt.Errorf("store: update jobs: job %d: a placement goes through UpdateJobIf", j.ID)
		}
	}
	written := make([]bool, len(jobs))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		clear(written)
		upd, err := tx.PrepareContext(ctx, db.q(`UPDATE jobs SET state = ?, reason = ?, site = ?, alloc = ?, start_time = ?, end_time = ?, exit_code = ?,
signal = ?, attempt = ?, handle = ?, estimated_start = ?, update_time = ?, event_seq = event_seq + 1 WHERE id = ? AND state = ? RETURNING event_seq`))
		if err != nil {
			return err
		}
		defer upd.Close()
		type evRow struct {
			i   int
			seq int64
		}
		var rows []evRow
		var entries []AuditEntry
		for i, j := range jobs {
			alloc, err := allocJSON(j.Alloc)
			if err != nil {
				return fmt.Errorf("job %d: encode allocation: %w", j.ID, err)
			}
			var seq int64
			err = upd.QueryRowContext(ctx, string(j.State), j.Reason, j.Site, alloc, microsPtr(j.StartTime), microsPtr(j.EndTime), exitCodeArg(j.ExitCode),
				j.Signal, j.Attempt, j.Handle, microsPtr(j.EstimatedStart), micros(j.UpdateTime), int64(j.ID), string(from)).Scan(&seq)
			if errors.Is(err, sql.ErrNoRows) {
				continue // in another state meanwhile, or unknown
			}
			if err != nil {
				return fmt.Errorf("job %d: %w", j.ID, err)
			}
			written[i] = true
			if evs[i].Type != "" {
				rows = append(rows, evRow{i, seq})
			}
			if audit != nil && audit[i].Action != "" {
				entries = append(entries, audit[i])
			}
		}
		for lo := 0; lo < len(rows); lo += insertChunk {
			chunk := rows[lo:min(lo+insertChunk, len(rows))]
			var q strings.Builder
			q.WriteString(`INSERT INTO job_events (job_id, seq, time, type, state, message) VALUES `)
			args := make([]any, 0, len(chunk)*6)
			for k, r := range chunk {
				if k > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?)")
				ev, j := evs[r.i], jobs[r.i]
				t := ev.Time
				if t.IsZero() {
					t = j.UpdateTime
				}
				args = append(args, int64(j.ID), r.seq, micros(t), ev.Type, string(ev.State), ev.Message)
			}
			if _, err := tx.ExecContext(ctx, db.q(q.String()), args...); err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
		}
		_, err = db.appendAuditTx(ctx, tx, entries...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: update %d jobs: %w", len(jobs), err)
	}
	return written, nil
}
