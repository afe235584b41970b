package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Group-commit tuning. A batch closes when it holds maxBatch jobs, when
// nothing is waiting and the batch has a single caller (committed at once,
// no added latency), or window after the committer started lingering for
// more callers.
const (
	defaultWindow   = time.Millisecond
	defaultMaxBatch = 2000
)

// insertChunk bounds rows per multi-row INSERT: 21 columns x 200 rows stays
// far below SQLite's and PostgreSQL's bind-parameter limits.
const insertChunk = 200

// SubmitJobs stores new jobs and returns them as stored, with created[i]
// reporting whether jobs[i] was new.
//
// Each new job gets an id (increasing in submission order), the state
// pending unless one is set, and a "submitted" event; SubmitTime and
// UpdateTime are kept as given (a zero SubmitTime becomes now, a zero
// UpdateTime the SubmitTime). All of it is durable before SubmitJobs
// returns.
//
// A job with an IdempotencyKey that its user already used is not stored
// again: the existing job is returned with created[i] false. The same holds
// for a key repeated within one call.
//
// Concurrent calls are coalesced by a group committer into one transaction.
// One call's jobs are always committed together, or not at all; if a shared
// transaction fails, every call in it is retried once in a transaction of
// its own, so one bad call does not fail the others. If ctx ends while the call waits for its
// commit, SubmitJobs returns the context error and the jobs may or may not
// be stored (a retry with the same idempotency keys is safe).
func (db *DB) SubmitJobs(ctx context.Context, jobs []core.Job) ([]core.Job, []bool, error) {
	return db.submit(ctx, jobs, nil)
}

// SubmitJobsAudited is SubmitJobs that also appends, in the same
// transaction, one audit entry for the jobs this call created: audit gives
// Actor, Action and Detail; Object names the jobs ("job/12" or
// "jobs/12..40"). No entry is written when every job was a retry. So an
// acknowledged submission is never missing from the audit log.
func (db *DB) SubmitJobsAudited(ctx context.Context, jobs []core.Job, audit AuditEntry) ([]core.Job, []bool, error) {
	return db.submit(ctx, jobs, &audit)
}

func (db *DB) submit(ctx context.Context, jobs []core.Job, audit *AuditEntry) ([]core.Job, []bool, error) {
	if len(jobs) == 0 {
		return nil, nil, nil
	}
	// Refuse what cannot be stored before it can share a transaction.
	for i, j := range jobs {
		if j.State != "" && !j.State.Valid() {
			return nil, nil, fmt.Errorf("store: submit: job %d of %d: invalid state %q", i, len(jobs), j.State)
		}
	}
	req := &submitReq{jobs: jobs, audit: audit, done: make(chan submitResult, 1)}
	select {
	case db.gc.in <- req:
	case <-db.gc.quit:
		return nil, nil, fmt.Errorf("store: submit %d jobs: %w", len(jobs), ErrClosed)
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("store: submit %d jobs: %w", len(jobs), ctx.Err())
	}
	select {
	case r := <-req.done:
		if r.err != nil {
			return nil, nil, fmt.Errorf("store: submit %d jobs: %w", len(jobs), r.err)
		}
		return r.jobs, r.created, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("store: submit %d jobs: %w (they may have been stored)", len(jobs), ctx.Err())
	}
}

type submitReq struct {
	jobs  []core.Job
	audit *AuditEntry       // when set, appended in the same transaction
	done  chan submitResult // buffered: the committer never blocks on a caller
}

type submitResult struct {
	jobs    []core.Job
	created []bool
	err     error
}

// committer is the one goroutine that inserts jobs. Callers hand it
// requests over an unbuffered channel; it gathers what is waiting into a
// batch, commits the batch in one transaction and answers each caller.
type committer struct {
	db       *DB
	window   time.Duration
	maxBatch int
	in       chan *submitReq
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// Stats for tests and benchmarks: commits and requests committed.
	mu      sync.Mutex
	commits int64
	reqs    int64
}

func newCommitter(db *DB, window time.Duration, maxBatch int) *committer {
	c := &committer{db: db, window: window, maxBatch: maxBatch,
		in: make(chan *submitReq), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// stop makes new submissions fail with ErrClosed and waits for the batch in
// flight to be committed and answered.
func (c *committer) stop() {
	c.stopOnce.Do(func() { close(c.quit) })
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	var timer *time.Timer
	for {
		var first *submitReq
		select {
		case first = <-c.in:
		case <-c.quit:
			return
		}
		batch, n := []*submitReq{first}, len(first.jobs)
		lingering := false
	gather:
		for n < c.maxBatch {
			select {
			case r := <-c.in:
				batch, n = append(batch, r), n+len(r.jobs)
				continue
			default:
			}
			// Nothing waiting. Linger only if callers are clearly concurrent
			// (a lone caller should not pay the window in latency), and only
			// once per batch, so a steady trickle cannot stretch it.
			if len(batch) < 2 || c.window <= 0 {
				break
			}
			if !lingering {
				lingering = true
				if timer == nil {
					timer = time.NewTimer(c.window)
				} else {
					timer.Reset(c.window)
				}
			}
			select {
			case r := <-c.in:
				batch, n = append(batch, r), n+len(r.jobs)
			case <-timer.C:
				lingering = false
				break gather
			case <-c.quit:
				break gather
			}
		}
		if lingering {
			timer.Stop() // since Go 1.23 a stopped timer delivers nothing stale
		}
		c.commit(batch)
	}
}

// commit runs batch in one transaction. If that fails, each call in it is
// retried once in a transaction of its own: that isolates a bad call, and
// gets past a lost idempotency race with another process (the retry finds
// the winner's job).
func (c *committer) commit(batch []*submitReq) { c.run(batch, true) }

func (c *committer) run(batch []*submitReq, mayRetry bool) {
	defer func(t0 time.Time) { c.db.txSeconds.Observe(time.Since(t0)) }(time.Now())
	ctx := context.Background()
	var all []core.Job
	if len(batch) == 1 {
		all = batch[0].jobs
	} else {
		// An array's placeholder id is the caller's, unique only within
		// its own call: renumber them so that two arrays committed
		// together stay two arrays.
		next := core.JobID(0)
		for _, r := range batch {
			seen := map[core.JobID]core.JobID{}
			for _, j := range r.jobs {
				if j.ArrayTaskID != nil && j.ArrayJobID < 0 {
					ph, ok := seen[j.ArrayJobID]
					if !ok {
						next--
						ph = next
						seen[j.ArrayJobID] = ph
					}
					j.ArrayJobID = ph
				}
				all = append(all, j)
			}
		}
	}
	var jobs []core.Job
	var created []bool
	err := c.db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		jobs, created, err = c.db.insertJobs(ctx, tx, all)
		if err != nil {
			return err
		}
		var entries []AuditEntry
		off := 0
		for _, r := range batch {
			k := len(r.jobs)
			if r.audit != nil {
				if e, ok := submissionEntry(*r.audit, jobs[off:off+k], created[off:off+k]); ok {
					entries = append(entries, e)
				}
			}
			off += k
		}
		_, err = c.db.appendAuditTx(ctx, tx, entries...)
		return err
	})
	c.mu.Lock()
	c.commits++
	c.reqs += int64(len(batch))
	c.mu.Unlock()
	if err != nil && mayRetry {
		for _, r := range batch {
			c.run([]*submitReq{r}, false)
		}
		return
	}
	if err != nil {
		batch[0].done <- submitResult{err: err}
		return
	}
	off := 0
	for _, r := range batch {
		k := len(r.jobs)
		r.done <- submitResult{jobs: jobs[off : off+k : off+k], created: created[off : off+k : off+k]}
		off += k
	}
}

// submissionEntry is the audit entry of one call's created jobs; ok is
// false when the call created none.
func submissionEntry(e AuditEntry, jobs []core.Job, created []bool) (AuditEntry, bool) {
	var ids []core.JobID
	for i, j := range jobs {
		if created[i] {
			ids = append(ids, j.ID)
		}
	}
	switch len(ids) {
	case 0:
		return e, false
	case 1:
		e.Object = "job/" + ids[0].String()
	default:
		e.Object = fmt.Sprintf("jobs/%d..%d", ids[0], ids[len(ids)-1])
		if e.Detail != "" {
			e.Detail += "; "
		}
		e.Detail += fmt.Sprintf("%d jobs", len(ids))
	}
	return e, true
}

// CommitStats reports how many transactions the group committer has run and
// how many SubmitJobs calls they carried.
func (db *DB) CommitStats() (commits, calls int64) {
	db.gc.mu.Lock()
	defer db.gc.mu.Unlock()
	return db.gc.commits, db.gc.reqs
}

type idemKey struct{ user, key string }

// insertJobs stores jobs in tx. It runs only on the committer goroutine,
// the single inserter of jobs in this process. Across processes
// (PostgreSQL), a concurrent insert of the same idempotency key makes the
// unique index fail the transaction; the retry then finds the winner.
func (db *DB) insertJobs(ctx context.Context, tx *sql.Tx, in []core.Job) ([]core.Job, []bool, error) {
	out := make([]core.Job, len(in))
	created := make([]bool, len(in))
	now := time.Now()
	// index into out of the job that first used a key in this batch
	seen := map[idemKey]int{}
	var fresh []int      // indexes of jobs to insert
	var lookup *sql.Stmt // prepared once per transaction: a batch may check many keys
	defer func() {
		if lookup != nil {
			lookup.Close()
		}
	}()
	for i, j := range in {
		j = normJob(j)
		j.ID = 0
		if j.SubmitTime.IsZero() {
			j.SubmitTime = norm(now)
		}
		if j.UpdateTime.IsZero() {
			j.UpdateTime = j.SubmitTime
		}
		if !j.State.Valid() {
			return nil, nil, fmt.Errorf("job %d of the batch: invalid state %q", i, j.State)
		}
		if j.IdempotencyKey != "" {
			k := idemKey{j.User, j.IdempotencyKey}
			if _, ok := seen[k]; ok {
				continue // a repeat within the batch: filled in below
			}
			seen[k] = i
			if lookup == nil {
				var err error
				if lookup, err = tx.PrepareContext(ctx, db.q(`SELECT `+jobCols+` FROM jobs WHERE user_name = ? AND idem_key = ?`)); err != nil {
					return nil, nil, fmt.Errorf("prepare idempotency lookup: %w", err)
				}
			}
			old, err := scanJob(lookup.QueryRowContext(ctx, j.User, j.IdempotencyKey))
			switch {
			case err == nil:
				out[i], created[i] = old, false
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return nil, nil, fmt.Errorf("look up idempotency key: %w", err)
			}
		}
		out[i], created[i] = j, true
		fresh = append(fresh, i)
	}
	if len(fresh) > 0 {
		var last int64
		if err := tx.QueryRowContext(ctx, db.q(`UPDATE counters SET value = value + ? WHERE name = 'job' RETURNING value`), len(fresh)).Scan(&last); err != nil {
			return nil, nil, fmt.Errorf("allocate job ids: %w", err)
		}
		first := last - int64(len(fresh)) + 1
		arrays := map[core.JobID]core.JobID{} // placeholder -> the array's id
		for k, i := range fresh {
			out[i].ID = core.JobID(first + int64(k))
			if out[i].ArrayTaskID != nil {
				// An array's tasks come in with the same negative
				// placeholder; the array takes its first task's id.
				ph := out[i].ArrayJobID
				if ph >= 0 {
					return nil, nil, fmt.Errorf("job %d of the batch: an array task needs a negative placeholder array id, got %d", i, ph)
				}
				if _, ok := arrays[ph]; !ok {
					arrays[ph] = out[i].ID
				}
				out[i].ArrayJobID = arrays[ph]
			}
		}
		for lo := 0; lo < len(fresh); lo += insertChunk {
			hi := min(lo+insertChunk, len(fresh))
			if err := db.insertJobRows(ctx, tx, out, fresh[lo:hi]); err != nil {
				return nil, nil, err
			}
		}
	}
	// Repeats of a key within the batch point at the first job with it.
	for i, j := range in {
		if j.IdempotencyKey != "" && !created[i] {
			if first := seen[idemKey{j.User, j.IdempotencyKey}]; first != i {
				out[i] = out[first]
			}
		}
	}
	return out, created, nil
}

func (db *DB) insertJobRows(ctx context.Context, tx *sql.Tx, jobs []core.Job, idx []int) error {
	const jobRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
	const eventRow = "(?, 1, ?, 'submitted', ?, '')"
	var jq, eq strings.Builder
	jq.WriteString(`INSERT INTO jobs (` + jobCols + `, event_seq) VALUES `)
	eq.WriteString(`INSERT INTO job_events (job_id, seq, time, type, state, message) VALUES `)
	jargs := make([]any, 0, len(idx)*22)
	eargs := make([]any, 0, len(idx)*3)
	for k, i := range idx {
		j := &jobs[i]
		if k > 0 {
			jq.WriteString(", ")
			eq.WriteString(", ")
		}
		jq.WriteString(jobRow)
		eq.WriteString(eventRow)
		spec, err := json.Marshal(j.Spec)
		if err != nil {
			return fmt.Errorf("job %d: encode spec: %w", j.ID, err)
		}
		alloc, err := allocJSON(j.Alloc)
		if err != nil {
			return fmt.Errorf("job %d: encode allocation: %w", j.ID, err)
		}
		var idem sql.NullString
		if j.IdempotencyKey != "" {
			idem = sql.NullString{String: j.IdempotencyKey, Valid: true}
		}
		jargs = append(jargs, int64(j.ID), j.Name, j.Project, j.Org, j.User, string(j.State), j.Reason, j.Site,
			string(spec), alloc, micros(j.SubmitTime), microsPtr(j.StartTime), microsPtr(j.EndTime), exitCodeArg(j.ExitCode),
			j.Signal, j.Attempt, idem, j.Handle, microsPtr(j.EstimatedStart), micros(j.UpdateTime), arrayArgs(j)[0], arrayArgs(j)[1])
		eargs = append(eargs, int64(j.ID), micros(j.SubmitTime), string(j.State))
	}
	if _, err := tx.ExecContext(ctx, db.q(jq.String()), jargs...); err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, db.q(eq.String()), eargs...); err != nil {
		return fmt.Errorf("insert submitted events: %w", err)
	}
	return nil
}

// arrayArgs returns the array_job_id and array_task_id column values of j.
func arrayArgs(j *core.Job) [2]sql.NullInt64 {
	if j.ArrayTaskID == nil {
		return [2]sql.NullInt64{}
	}
	return [2]sql.NullInt64{{Int64: int64(j.ArrayJobID), Valid: true}, {Int64: int64(*j.ArrayTaskID), Valid: true}}
}
