package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// ErrBadCursor is returned by ListJobs for a cursor it did not hand out.
var ErrBadCursor = errors.New("invalid cursor")

// List limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// JobFilter selects jobs. Empty fields match everything.
type JobFilter struct {
	States  []core.State
	Project string
	User    string
	Org     string
	Site    string
	// Sites, when not empty, selects the jobs placed at any of these
	// sites (an operator's).
	Sites []string
	// Name selects jobs of this name.
	Name string
	// ArrayJobID selects the tasks of one job array; with ArrayTaskID,
	// the one task of that index.
	ArrayJobID  core.JobID
	ArrayTaskID *int
	Limit       int    // page size; 0 means DefaultLimit, capped at MaxLimit
	Cursor      string // from a previous ListJobs; "" for the first page
	// MaxBytes, when positive, also ends a page once the stored specs and
	// allocations of its jobs pass this many bytes (a page holds at least
	// one job), so that a page of large specs stays bounded in memory.
	MaxBytes int
}

const jobCols = `id, name, project, org, user_name, state, reason, site, spec, alloc, submit_time, start_time, end_time, exit_code, signal, attempt, idem_key, handle, estimated_start, update_time, array_job_id, array_task_id`

func scanJob(s interface{ Scan(...any) error }) (core.Job, error) {
	j, _, err := scanJobSized(s)
	return j, err
}

// scanJobSized is scanJob that also says how many bytes of JSON the job's
// spec and allocation took in the row.
func scanJobSized(s interface{ Scan(...any) error }) (core.Job, int, error) {
	var (
		j                         core.Job
		state, spec               string
		alloc, idem               sql.NullString
		submit, update            int64
		start, end, est, exitCode sql.NullInt64
		attempt                   int64
		arrayJob, arrayTask       sql.NullInt64
	)
	err := s.Scan(&j.ID, &j.Name, &j.Project, &j.Org, &j.User, &state, &j.Reason, &j.Site, &spec, &alloc,
		&submit, &start, &end, &exitCode, &j.Signal, &attempt, &idem, &j.Handle, &est, &update, &arrayJob, &arrayTask)
	if err != nil {
		return core.Job{}, 0, err
	}
	j.State = core.State(state)
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return core.Job{}, 0, fmt.Errorf("job %d: decode spec: %w", j.ID, err)
	}
	if alloc.Valid {
		j.Alloc = new(core.Allocation)
		if err := json.Unmarshal([]byte(alloc.String), j.Alloc); err != nil {
			return core.Job{}, 0, fmt.Errorf("job %d: decode allocation: %w", j.ID, err)
		}
	}
	j.SubmitTime = fromMicros(submit)
	j.UpdateTime = fromMicros(update)
	j.StartTime = fromMicrosPtr(start)
	j.EndTime = fromMicrosPtr(end)
	j.EstimatedStart = fromMicrosPtr(est)
	if exitCode.Valid {
		c := int(exitCode.Int64)
		j.ExitCode = &c
	}
	j.Attempt = int(attempt)
	j.IdempotencyKey = idem.String
	if arrayTask.Valid {
		j.ArrayJobID = core.JobID(arrayJob.Int64)
		t := int(arrayTask.Int64)
		j.ArrayTaskID = &t
	}
	return j, len(spec) + len(alloc.String), nil
}

// normJob returns j as it reads back from the store: times in UTC at
// microsecond precision, the default state filled in.
func normJob(j core.Job) core.Job {
	if j.State == "" {
		j.State = core.StatePending
	}
	j.SubmitTime = norm(j.SubmitTime)
	j.UpdateTime = norm(j.UpdateTime)
	j.StartTime = normPtr(j.StartTime)
	j.EndTime = normPtr(j.EndTime)
	j.EstimatedStart = normPtr(j.EstimatedStart)
	return j
}

func allocJSON(a *core.Allocation) (sql.NullString, error) {
	if a == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func exitCodeArg(c *int) sql.NullInt64 {
	if c == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*c), Valid: true}
}

// GetJob returns job id; ErrNotFound if there is none.
func (db *DB) GetJob(ctx context.Context, id core.JobID) (core.Job, error) {
	j, err := scanJob(db.r.QueryRowContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE id = ?`), int64(id)))
	if err != nil {
		return core.Job{}, notFound(err, "get job %d", id)
	}
	return j, nil
}

// where builds the WHERE clause for f, ignoring Limit and Cursor.
func (f JobFilter) where() (string, []any) {
	var conds []string
	var args []any
	if len(f.States) > 0 {
		marks := strings.Repeat("?, ", len(f.States))
		conds = append(conds, "state IN ("+marks[:len(marks)-2]+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	for _, c := range []struct{ col, v string }{
		{"project", f.Project}, {"user_name", f.User}, {"org", f.Org}, {"site", f.Site}, {"name", f.Name},
	} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(f.Sites) > 0 {
		marks := strings.Repeat("?, ", len(f.Sites))
		conds = append(conds, "site IN ("+marks[:len(marks)-2]+")")
		for _, s := range f.Sites {
			args = append(args, s)
		}
	}
	if f.ArrayJobID != 0 {
		conds = append(conds, "array_job_id = ?")
		args = append(args, int64(f.ArrayJobID))
		if f.ArrayTaskID != nil {
			conds = append(conds, "array_task_id = ?")
			args = append(args, int64(*f.ArrayTaskID))
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// The cursor is the last id of the page, base64-wrapped so that callers
// treat it as opaque.
func encodeCursor(id core.JobID) string {
	return base64.RawURLEncoding.EncodeToString([]byte("j" + strconv.FormatInt(int64(id), 10)))
}

func decodeCursor(c string) (core.JobID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'j' {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	id, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	return core.JobID(id), nil
}

// ListJobs returns one page of the jobs matching f, newest first, and the
// cursor of the next page ("" on the last page).
func (db *DB) ListJobs(ctx context.Context, f JobFilter) ([]core.Job, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	where, args := f.where()
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("store: list jobs: %w", err)
		}
		if where == "" {
			where = " WHERE id < ?"
		} else {
			where += " AND id < ?"
		}
		args = append(args, int64(after))
	}
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs`+where+` ORDER BY id DESC LIMIT ?`), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	defer rows.Close()
	jobs := make([]core.Job, 0, min(limit+1, 64))
	size := 0
	next := ""
	for rows.Next() {
		j, n, err := scanJobSized(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list jobs: %w", err)
		}
		if f.MaxBytes > 0 && len(jobs) > 0 && len(jobs) < limit && size+n > f.MaxBytes {
			next = encodeCursor(jobs[len(jobs)-1].ID)
			break
		}
		size += n
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	if len(jobs) > limit {
		jobs = jobs[:limit]
		next = encodeCursor(jobs[limit-1].ID)
	}
	return jobs, next, nil
}

// CountJobs counts the jobs matching f (Limit and Cursor are ignored).
func (db *DB) CountJobs(ctx context.Context, f JobFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs`+where), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count jobs: %w", err)
	}
	return n, nil
}

// UnfinishedJobs returns every job not in a terminal state, by id. The
// daemon reloads them at restart.
func (db *DB) UnfinishedJobs(ctx context.Context) ([]core.Job, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE state NOT IN (?, ?, ?, ?) ORDER BY id`),
		string(core.StateCompleted), string(core.StateFailed), string(core.StateCancelled), string(core.StateTimeout))
	if err != nil {
		return nil, fmt.Errorf("store: unfinished jobs: %w", err)
	}
	defer rows.Close()
	var out []core.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: unfinished jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unfinished jobs: %w", err)
	}
	return out, nil
}

// UpdateJob writes the mutable part of job's row (state, reason, site,
// allocation, times, exit code, signal, attempt, handle, estimated start)
// and appends ev to its history, in one transaction. ev.Seq is assigned; an
// ev with an empty Type appends nothing. ErrNotFound if the job does not
// exist. The spec, owner and idempotency key never change.
func (db *DB) UpdateJob(ctx context.Context, job core.Job, ev core.Event) error {
	if _, err := db.updateJob(ctx, job, nil, ev, nil); err != nil {
		return fmt.Errorf("store: update job %d: %w", job.ID, err)
	}
	return nil
}

// UpdateJobIf is UpdateJob that only writes when the job's stored state is
// fromState, for optimistic concurrency. It reports whether it wrote;
// ErrNotFound if the job does not exist.
func (db *DB) UpdateJobIf(ctx context.Context, job core.Job, fromState core.State, ev core.Event) (bool, error) {
	ok, err := db.updateJob(ctx, job, &fromState, ev, nil)
	if err != nil {
		return false, fmt.Errorf("store: update job %d from %s: %w", job.ID, fromState, err)
	}
	return ok, nil
}

func (db *DB) updateJob(ctx context.Context, j core.Job, from *core.State, ev core.Event, m *core.Meter) (bool, error) {
	alloc, err := allocJSON(j.Alloc)
	if err != nil {
		return false, err
	}
	if j.State == "" {
		return false, errors.New("empty state")
	}
	query := `UPDATE jobs SET state = ?, reason = ?, site = ?, alloc = ?, start_time = ?, end_time = ?, exit_code = ?,
signal = ?, attempt = ?, handle = ?, estimated_start = ?, update_time = ?, event_seq = event_seq + 1 WHERE id = ?`
	args := []any{string(j.State), j.Reason, j.Site, alloc, microsPtr(j.StartTime), microsPtr(j.EndTime), exitCodeArg(j.ExitCode),
		j.Signal, j.Attempt, j.Handle, microsPtr(j.EstimatedStart), micros(j.UpdateTime), int64(j.ID)}
	if j.State == core.StateStarting {
		// Placement is when a spec may change: the daemon fills in the
		// site's default walltime, which the job then runs under.
		spec, err := json.Marshal(j.Spec)
		if err != nil {
			return false, fmt.Errorf("encode spec: %w", err)
		}
		query = strings.Replace(query, "update_time = ?,", "update_time = ?, spec = ?,", 1)
		args = slices.Insert(args, 12, any(string(spec)))
	}
	if from != nil {
		query += ` AND state = ?`
		args = append(args, string(*from))
	}
	query += ` RETURNING event_seq`
	updated := false
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		err := tx.QueryRowContext(ctx, db.q(query), args...).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM jobs WHERE id = ?`), int64(j.ID)).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
			return nil // state differed
		}
		if err != nil {
			return err
		}
		updated = true
		if m != nil {
			if err := db.insertMeter(ctx, tx, *m); err != nil {
				return err
			}
		}
		if ev.Type == "" {
			return nil
		}
		t := ev.Time
		if t.IsZero() {
			t = j.UpdateTime
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO job_events (job_id, seq, time, type, state, message) VALUES (?, ?, ?, ?, ?, ?)`),
			int64(j.ID), seq, micros(t), ev.Type, string(ev.State), ev.Message)
		return err
	})
	return updated, err
}

// JobEvents returns the history of job id in order; ErrNotFound if the job
// does not exist.
func (db *DB) JobEvents(ctx context.Context, id core.JobID) ([]core.Event, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT seq, time, type, state, message FROM job_events WHERE job_id = ? ORDER BY seq`), int64(id))
	if err != nil {
		return nil, fmt.Errorf("store: events of job %d: %w", id, err)
	}
	defer rows.Close()
	var out []core.Event
	for rows.Next() {
		e := core.Event{JobID: id}
		var t int64
		var state string
		if err := rows.Scan(&e.Seq, &t, &e.Type, &state, &e.Message); err != nil {
			return nil, fmt.Errorf("store: events of job %d: %w", id, err)
		}
		e.Time, e.State = fromMicros(t), core.State(state)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events of job %d: %w", id, err)
	}
	if len(out) == 0 {
		if _, err := db.GetJob(ctx, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ArrayTasks returns every task of job array id, by task index.
func (db *DB) ArrayTasks(ctx context.Context, id core.JobID) ([]core.Job, error) {
	var all []core.Job
	f := JobFilter{ArrayJobID: id, Limit: MaxLimit}
	for {
		page, next, err := db.ListJobs(ctx, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.SortFunc(all, func(a, b core.Job) int { return *a.ArrayTaskID - *b.ArrayTaskID })
	return all, nil
}
