package store

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gigafactory/gigafactory/internal/core"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrAuditBroken is wrapped by VerifyAudit's error when the chain does not
// check out.
var ErrAuditBroken = core.ErrAuditBroken

// AuditEntry is one record of the append-only audit log. Hash chains each
// entry to the one before it, so editing, deleting or reordering stored
// entries is detected by VerifyAudit.
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Object   string    `json:"object"`
	Detail   string    `json:"detail,omitempty"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// canonical is the byte form of an entry that is hashed: JSON of its
// content fields in a fixed order, time as RFC 3339 UTC in microseconds.
func (e AuditEntry) canonical() []byte {
	b, _ := json.Marshal(struct {
		Seq    int64  `json:"seq"`
		Time   string `json:"time"`
		Actor  string `json:"actor"`
		Action string `json:"action"`
		Object string `json:"object"`
		Detail string `json:"detail"`
	}{e.Seq, e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), e.Actor, e.Action, e.Object, e.Detail})
	return b
}

// chainHash is hex(sha256(prevHash || canonical entry)), prevHash being the
// previous entry's hex hash ("" for the first entry).
func chainHash(prevHash string, e AuditEntry) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(e.canonical())
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit appends e to the audit log and returns it with Seq, PrevHash
// and Hash filled in (and Time, if it was zero, set to now).
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = norm(e.Time)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		out, err := db.appendAuditTx(ctx, tx, e)
		if err == nil {
			e = out[0]
		}
		return err
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: append audit %s %s by %s: %w", e.Action, e.Object, e.Actor, err)
	}
	return e, nil
}

// appendAuditTx appends entries within tx, in order, chaining each to the
// one before, with one counter bump and one read of the previous hash.
func (db *DB) appendAuditTx(ctx context.Context, tx *sql.Tx, entries ...AuditEntry) ([]AuditEntry, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	// Bumping the counter first locks out concurrent appenders.
	var last int64
	if err := tx.QueryRowContext(ctx, db.q(`UPDATE counters SET value = value + ? WHERE name = 'audit' RETURNING value`), len(entries)).Scan(&last); err != nil {
		return nil, err
	}
	first := last - int64(len(entries)) + 1
	prev := ""
	err := tx.QueryRowContext(ctx, db.q(`SELECT hash FROM audit WHERE seq = ?`), first-1).Scan(&prev)
	if err != nil && !(errors.Is(err, sql.ErrNoRows) && first == 1) {
		return nil, fmt.Errorf("previous entry %d: %w", first-1, err)
	}
	// Multi-row INSERTs, insertChunk entries each: a group commit of many
	// submissions appends one entry per call, and one round trip per
	// entry was most of its transaction's time on PostgreSQL.
	now := time.Now()
	for i := range entries {
		e := &entries[i]
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = norm(e.Time)
		e.Seq, e.PrevHash = first+int64(i), prev
		e.Hash = chainHash(e.PrevHash, *e)
		prev = e.Hash
	}
	for lo := 0; lo < len(entries); lo += insertChunk {
		chunk := entries[lo:min(lo+insertChunk, len(entries))]
		var q strings.Builder
		q.WriteString(`INSERT INTO audit (seq, time, actor, action, object, detail, prev_hash, hash) VALUES `)
		args := make([]any, 0, len(chunk)*8)
		for k, e := range chunk {
			if k > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, e.Seq, micros(e.Time), e.Actor, e.Action, e.Object, e.Detail, e.PrevHash, e.Hash)
		}
		if _, err := tx.ExecContext(ctx, db.q(q.String()), args...); err != nil {
			return nil, err
		}
	}
	if s := db.signer.Load(); s != nil {
		if _, err := db.checkpointTx(ctx, tx, s, last, s.every); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return entries, nil
}

const auditCols = `seq, time, actor, action, object, detail, prev_hash, hash`

func scanAudit(rows *sql.Rows) (AuditEntry, error) {
	var e AuditEntry
	var t int64
	if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Object, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return AuditEntry{}, err
	}
	e.Time = fromMicros(t)
	return e, nil
}

// ListAudit returns up to limit entries with Seq > afterSeq, in order.
// limit <= 0 means DefaultLimit; it is capped at MaxLimit.
func (db *DB) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+auditCols+` FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`), afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list audit after %d: %w", afterSeq, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list audit after %d: %w", afterSeq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit after %d: %w", afterSeq, err)
	}
	return out, nil
}

// AuditFilter selects entries for FindAudit. Empty fields match all.
type AuditFilter struct {
	// Actor matches exactly.
	Actor string
	// Object matches exactly, or every object it prefixes when it ends in
	// "/" ("award/").
	Object string
	// Action matches exactly, or every action it prefixes when it ends in
	// "." ("award.").
	Action string
	// Since and Until bound the entry's time: Since <= time < Until.
	Since, Until time.Time
	// AfterSeq pages: only entries with a larger seq.
	AfterSeq int64
	// Limit is DefaultLimit when <= 0, capped at MaxLimit.
	Limit int
}

// FindAudit returns up to f.Limit entries matching f, in order of seq.
func (db *DB) FindAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	where := []string{"seq > ?"}
	args := []any{f.AfterSeq}
	// match adds col = v, or col >= v AND col < v' when v ends in the
	// separator sep (v' is v with sep replaced by the next byte: a range,
	// not LIKE, so '_' and '%' in names stay literal).
	match := func(col, v string, sep byte) {
		switch {
		case v == "":
		case sep != 0 && v[len(v)-1] == sep:
			where = append(where, col+" >= ? AND "+col+" < ?")
			args = append(args, v, v[:len(v)-1]+string(rune(sep+1)))
		default:
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	match("actor", f.Actor, 0)
	match("object", f.Object, '/')
	match("action", f.Action, '.')
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, micros(norm(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, micros(norm(f.Until)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	args = append(args, min(limit, MaxLimit))
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+auditCols+` FROM audit WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: find audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: find audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: find audit: %w", err)
	}
	return out, nil
}

// Kinds of AuditProblem.
const (
	// AuditEdited: an entry's content does not match its own hash.
	AuditEdited = "edited"
	// AuditMissing: a seq is absent (deleted).
	AuditMissing = "missing"
	// AuditLink: an entry's prev_hash is not the hash of the entry before it
	// (one inserted, deleted or moved before it).
	AuditLink = "link"
	// AuditExtra: more entries than the counter handed out (inserted).
	AuditExtra = "extra"
	// AuditTail: entries issued or signed are gone from the end.
	AuditTail = "tail"
	// AuditRecomputed: the entry's hash differs from the one a valid
	// checkpoint signed: the chain was rewritten without the key.
	AuditRecomputed = "recomputed"
	// AuditBadCheckpoint: a checkpoint whose signature does not verify, or a
	// range of entries no checkpoint covers though later ones are covered.
	AuditBadCheckpoint = "checkpoint"
)

// AuditProblem is one finding of VerifyAuditKey (core.AuditProblem).
type AuditProblem = core.AuditProblem

// maxProblems bounds the findings a report lists; a rewrite of the chain
// from one entry on makes every later entry differ.
const maxProblems = 20

// AuditReport is what VerifyAuditKey found (core.AuditReport).
type AuditReport = core.AuditReport

func addProblem(r *AuditReport, seq int64, kind, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, AuditProblem{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// VerifyAudit checks the log with the public key of the installed signer
// (the chain alone when there is none). It returns the number of entries
// checked; a broken log gives an error wrapping ErrAuditBroken that names
// the first bad seq, and the number is that of the entries before it.
func (db *DB) VerifyAudit(ctx context.Context) (int64, error) {
	r, err := db.VerifyAuditKey(ctx, db.AuditPublicKey())
	if err != nil {
		return r.Entries, err
	}
	if err := r.Err(); err != nil {
		return min(r.Entries, r.Problems[0].Seq-1), fmt.Errorf("store: verify audit: %w", err)
	}
	return r.Entries, nil
}

// VerifyAuditKey walks the whole log and its checkpoints and reports every
// entry edited, deleted, inserted or moved, a cut tail, and a chain that
// was recomputed (it links up but disagrees with a checkpoint that pub
// signed). With pub nil the checkpoints' signatures cannot be checked and
// only the chain and the counter are. The error is for failures to read.
func (db *DB) VerifyAuditKey(ctx context.Context, pub ed25519.PublicKey) (AuditReport, error) {
	var r AuditReport
	// The counter, read first, catches a truncated tail: every seq it
	// handed out must still be there.
	if err := db.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit'`).Scan(&r.Issued); err != nil {
		return r, fmt.Errorf("store: verify audit: %w", err)
	}
	all, err := db.ListAuditCheckpoints(ctx)
	if err != nil {
		return r, err
	}
	r.Checkpoints = len(all)
	// The checkpoints that may be trusted: with a key, those whose signature
	// verifies; a gap between trusted ranges is a finding.
	var cps []AuditCheckpoint
	if pub != nil {
		r.KeyChecked, r.KeyID = true, AuditKeyID(pub)
	}
	var covered int64
	for _, c := range all {
		if pub == nil {
			break // unsigned checkpoints prove nothing
		}
		if c.FirstSeq > covered+1 {
			addProblem(&r, covered+1, AuditBadCheckpoint, "no checkpoint covers seq %d..%d (checkpoints deleted?)", covered+1, c.FirstSeq-1)
		}
		covered = max(covered, c.LastSeq)
		if err := c.verify(pub); err != nil {
			addProblem(&r, c.FirstSeq, AuditBadCheckpoint, "checkpoint of seq %d..%d: %v", c.FirstSeq, c.LastSeq, err)
			continue
		}
		r.SignedThrough = c.LastSeq
		cps = append(cps, c)
	}

	rows, err := db.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit ORDER BY seq`)
	if err != nil {
		return r, fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	var last int64 // seq of the entry before
	prev := ""
	chainBroken := false
	signedBad := false
	ci := 0
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return r, fmt.Errorf("store: verify audit: %w", err)
		}
		r.Entries++
		switch {
		case e.Seq == last:
			addProblem(&r, e.Seq, AuditExtra, "seq %d appears twice", e.Seq)
			chainBroken = true
		case e.Seq > last+1:
			addProblem(&r, last+1, AuditMissing, "seq %d..%d missing (deleted)", last+1, e.Seq-1)
			chainBroken = true
		}
		if e.PrevHash != prev {
			addProblem(&r, e.Seq, AuditLink, "prev_hash does not match the hash of seq %d (an entry inserted, deleted or moved before it)", last)
			chainBroken = true
		}
		if chainHash(e.PrevHash, e) != e.Hash {
			addProblem(&r, e.Seq, AuditEdited, "content does not match its hash (edited or moved)")
			chainBroken = true
		}
		for ci < len(cps) && cps[ci].LastSeq < e.Seq {
			ci++
		}
		if ci < len(cps) && cps[ci].FirstSeq <= e.Seq {
			if signed := cps[ci].hashOf(e.Seq); signed != e.Hash {
				addProblem(&r, e.Seq, AuditRecomputed, "hash differs from the one signed in the checkpoint of seq %d..%d", cps[ci].FirstSeq, cps[ci].LastSeq)
				signedBad = true
				// One finding per checkpoint: the rest follow from it.
				ci++
			}
		}
		prev, last = e.Hash, e.Seq
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("store: verify audit: %w", err)
	}
	switch {
	case len(cps) > 0 && cps[len(cps)-1].LastSeq > last:
		addProblem(&r, last+1, AuditTail, "seq %d..%d were signed in a checkpoint but are gone (tail cut)", last+1, cps[len(cps)-1].LastSeq)
		chainBroken = true
	case r.Issued > last:
		addProblem(&r, last+1, AuditTail, "%d entries were written, the last remaining is seq %d (tail cut)", r.Issued, last)
		chainBroken = true
	case r.Issued < last:
		addProblem(&r, r.Issued+1, AuditExtra, "seq %d..%d were never handed out by the counter (inserted)", r.Issued+1, last)
		chainBroken = true
	}
	r.Recomputed = signedBad && !chainBroken
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Seq < r.Problems[j].Seq })
	return r, nil
}

// In-transaction auditing. A caller that changes the store through a method
// that does not take an audit entry of its own attaches the entry to the
// context with WithAudit; the first write transaction run with that context
// appends it before committing, so the change and its record commit or fail
// together.

type pendingKey struct{}

// pendingAudit holds entries attached by WithAudit until a transaction
// commits them.
type pendingAudit struct {
	mu      sync.Mutex
	entries []AuditEntry
	inTx    bool // appended in a transaction not yet committed
	written bool
}

// WithAudit returns a context carrying entries: the next write transaction
// of the store run with it (creating an organisation, adding a member,
// setting a site's state, ...) appends them before it commits. AuditWritten
// tells whether that happened.
func WithAudit(ctx context.Context, entries ...AuditEntry) context.Context {
	return context.WithValue(ctx, pendingKey{}, &pendingAudit{entries: entries})
}

// AuditWritten reports whether the entries attached to ctx by WithAudit
// were committed (true when none were attached).
func AuditWritten(ctx context.Context) bool {
	p := pendingFrom(ctx)
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

func pendingFrom(ctx context.Context) *pendingAudit {
	p, _ := ctx.Value(pendingKey{}).(*pendingAudit)
	return p
}

// appendTx appends the entries in tx unless an earlier transaction
// committed them. The lock is held until committed or a rollback, so one
// context's entries go into one transaction only.
func (p *pendingAudit) appendTx(ctx context.Context, db *DB, tx *sql.Tx) error {
	p.mu.Lock()
	if p.written || len(p.entries) == 0 {
		p.mu.Unlock()
		return nil
	}
	if _, err := db.appendAuditTx(ctx, tx, append([]AuditEntry(nil), p.entries...)...); err != nil {
		p.mu.Unlock()
		return err
	}
	p.inTx = true
	return nil
}

// done records whether the transaction that appended the entries
// committed, and releases the lock appendTx kept.
func (p *pendingAudit) done(committed bool) {
	if p == nil || !p.inTx {
		return
	}
	p.inTx, p.written = false, committed
	p.mu.Unlock()
}

// CommitPendingAudit appends, in a transaction of their own, the entries
// WithAudit attached to ctx when no transaction has committed them: for a
// change that reached no write of this store run with ctx.
func (db *DB) CommitPendingAudit(ctx context.Context) error {
	if AuditWritten(ctx) {
		return nil
	}
	if err := db.inTx(ctx, func(*sql.Tx) error { return nil }); err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}
