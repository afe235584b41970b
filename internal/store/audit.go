package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrAuditBroken is wrapped by VerifyAudit's error when the chain does not
// check out.
var ErrAuditBroken = errors.New("audit chain broken")

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
	ins, err := tx.PrepareContext(ctx, db.q(`INSERT INTO audit (seq, time, actor, action, object, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	now := time.Now()
	for i := range entries {
		e := &entries[i]
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = norm(e.Time)
		e.Seq, e.PrevHash = first+int64(i), prev
		e.Hash = chainHash(e.PrevHash, *e)
		if _, err := ins.ExecContext(ctx, e.Seq, micros(e.Time), e.Actor, e.Action, e.Object, e.Detail, e.PrevHash, e.Hash); err != nil {
			return nil, err
		}
		prev = e.Hash
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

// VerifyAudit walks the whole log and recomputes the chain. It returns the
// number of entries checked; on a mismatch, a gap in the sequence or a
// broken link its error wraps ErrAuditBroken and names the first bad seq.
func (db *DB) VerifyAudit(ctx context.Context) (int64, error) {
	// The counter, read first, catches a truncated tail: every seq it
	// handed out must still be there.
	var issued int64
	if err := db.r.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'audit'`).Scan(&issued); err != nil {
		return 0, fmt.Errorf("store: verify audit: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	var n int64
	prev := ""
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return n, fmt.Errorf("store: verify audit: %w", err)
		}
		switch {
		case e.Seq != n+1:
			return n, fmt.Errorf("store: verify audit: seq %d: %w: expected seq %d (entries missing or reordered)", n+1, ErrAuditBroken, n+1)
		case e.PrevHash != prev:
			return n, fmt.Errorf("store: verify audit: seq %d: %w: prev_hash does not match the hash of seq %d", e.Seq, ErrAuditBroken, e.Seq-1)
		case chainHash(prev, e) != e.Hash:
			return n, fmt.Errorf("store: verify audit: seq %d: %w: content does not match its hash", e.Seq, ErrAuditBroken)
		}
		prev = e.Hash
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("store: verify audit: %w", err)
	}
	if n < issued {
		return n, fmt.Errorf("store: verify audit: seq %d: %w: %d entries were written, %d remain", n+1, ErrAuditBroken, issued, n)
	}
	return n, nil
}
