package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Signed checkpoints. The hash chain shows that entries were edited,
// deleted or reordered only to someone who cannot recompute it; whoever can
// write the database can. A checkpoint signs, with an Ed25519 key that lives
// in the data directory and not in the database, the chain hashes of a run of
// entries. A recomputed chain then still links up, but its hashes no longer
// match what was signed, and the verifier names the first entry that differs.
// Entries after the last checkpoint are covered by the chain alone, which is
// why checkpoints are written every few entries and every few minutes.

// DefaultCheckpointEvery is the number of entries after which an append
// also writes a checkpoint when SetAuditSigner is given no number.
const DefaultCheckpointEvery = 256

// AuditKeyFile is the name of the signing key's file in the data directory.
const AuditKeyFile = "audit.key"

// auditSigner is the key and cadence SetAuditSigner installs.
type auditSigner struct {
	key   ed25519.PrivateKey
	every int64
}

// SetAuditSigner makes every append that brings the entries not yet
// covered by a checkpoint to every (DefaultCheckpointEvery when <= 0) also
// write a checkpoint signed with key, in the same transaction. VerifyAudit
// then checks the checkpoints against key's public half.
func (db *DB) SetAuditSigner(key ed25519.PrivateKey, every int) {
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	db.signer.Store(&auditSigner{key: key, every: int64(every)})
}

// AuditPublicKey returns the public key of the signer SetAuditSigner
// installed, or nil.
func (db *DB) AuditPublicKey() ed25519.PublicKey {
	if s := db.signer.Load(); s != nil {
		return s.key.Public().(ed25519.PublicKey)
	}
	return nil
}

// LoadOrCreateAuditKey reads the Ed25519 key at path (PKCS #8 PEM), or
// creates it with mode 0600 when it does not exist (created is then true).
// A key file that others may read is refused: its owner could sign a
// rewritten log.
func LoadOrCreateAuditKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("store: audit key %s: %w", path, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, fmt.Errorf("store: audit key %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("store: audit key: %w", err)
		}
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("store: audit key %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("store: audit key %s: %w", path, err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: audit key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("store: audit key %s is mode %04o; want 0600 (chmod 600 it)", path, fi.Mode().Perm())
	}
	key, err = parsePrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("store: audit key %s: %w", path, err)
	}
	return key, false, nil
}

func parsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("want an Ed25519 key, got %T", k)
	}
	return key, nil
}

// FormatAuditPublicKey is the hex form of pub that gf prints and
// ParseAuditPublicKey reads.
func FormatAuditPublicKey(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }

// AuditKeyID is a short name of pub stored with each checkpoint: the first
// 8 bytes of its SHA-256, in hex.
func AuditKeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// ParseAuditPublicKey reads a public key given as 64 hex digits, or as the
// contents of a file holding the hex, a PEM "PUBLIC KEY" block, or the
// "PRIVATE KEY" of audit.key itself.
func ParseAuditPublicKey(text string) (ed25519.PublicKey, error) {
	t := strings.TrimSpace(text)
	if b, err := hex.DecodeString(t); err == nil {
		if len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key: %d bytes of hex, want %d", len(b), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(b), nil
	}
	blk, _ := pem.Decode([]byte(t))
	switch {
	case blk == nil:
		return nil, errors.New("public key: want 64 hex digits or a PEM PUBLIC KEY block")
	case blk.Type == "PRIVATE KEY":
		k, err := parsePrivateKey([]byte(t))
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return k.Public().(ed25519.PublicKey), nil
	case blk.Type == "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: want Ed25519, got %T", k)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("public key: unexpected PEM block %q", blk.Type)
}

// AuditCheckpoint is one signed checkpoint: the chain hashes of entries
// FirstSeq..LastSeq, signed.
type AuditCheckpoint struct {
	FirstSeq  int64     `json:"first_seq"`
	LastSeq   int64     `json:"last_seq"`
	Time      time.Time `json:"time"`
	Hashes    string    `json:"-"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"`
}

// message is the byte string signed: the range, the time and the SHA-256 of
// the concatenated hashes.
func (c AuditCheckpoint) message() []byte {
	sum := sha256.Sum256([]byte(c.Hashes))
	return fmt.Appendf(nil, "gigafactory audit checkpoint v1\nfirst %d\nlast %d\ntime %d\nhashes %x\n", c.FirstSeq, c.LastSeq, micros(c.Time), sum)
}

// hashOf returns the signed hash of seq, which must lie in the range.
func (c AuditCheckpoint) hashOf(seq int64) string {
	i := int(seq-c.FirstSeq) * 64
	if i < 0 || i+64 > len(c.Hashes) {
		return ""
	}
	return c.Hashes[i : i+64]
}

// verify checks the signature and the shape of the row against pub.
func (c AuditCheckpoint) verify(pub ed25519.PublicKey) error {
	sig, err := hex.DecodeString(c.Signature)
	switch {
	case c.LastSeq < c.FirstSeq || int64(len(c.Hashes)) != (c.LastSeq-c.FirstSeq+1)*64:
		return errors.New("its list of hashes does not cover its range")
	case err != nil || !ed25519.Verify(pub, c.message(), sig):
		if c.KeyID != AuditKeyID(pub) {
			return fmt.Errorf("its signature does not verify: signed by key %s, not by the given key %s", c.KeyID, AuditKeyID(pub))
		}
		return errors.New("its signature does not verify with the given public key (forged or altered)")
	}
	return nil
}

// CheckpointAudit signs the entries written since the last checkpoint, if
// any, with the key SetAuditSigner installed. It reports whether it wrote a
// checkpoint. gf serve calls it on a timer, so a quiet log is signed too.
func (db *DB) CheckpointAudit(ctx context.Context) (bool, error) {
	s := db.signer.Load()
	if s == nil {
		return false, errors.New("store: checkpoint audit: no signing key (SetAuditSigner)")
	}
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// A no-op bump takes the same lock appenders take.
		var head int64
		if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value WHERE name = 'audit' RETURNING value`).Scan(&head); err != nil {
			return err
		}
		var err error
		wrote, err = db.checkpointTx(ctx, tx, s, head, 1)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: checkpoint audit: %w", err)
	}
	return wrote, nil
}

// RunAuditCheckpoints calls CheckpointAudit every interval until ctx ends.
// Errors are passed to report (which may be nil).
func (db *DB) RunAuditCheckpoints(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := db.CheckpointAudit(ctx); err != nil && report != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}

// checkpointTx writes a checkpoint of the entries after the last one signed
// up to head, when there are at least min of them. It signs only what links
// up: a run with a gap or a broken link is left unsigned (VerifyAudit reports
// it), so a checkpoint never blesses a log already tampered with.
func (db *DB) checkpointTx(ctx context.Context, tx *sql.Tx, s *auditSigner, head, min int64) (bool, error) {
	var last int64
	var lastHash sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT last_seq, hashes FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1`).Scan(&last, &lastHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if head-last < min {
		return false, nil
	}
	prev := ""
	if n := len(lastHash.String); n >= 64 {
		prev = lastHash.String[n-64:]
	}
	rows, err := tx.QueryContext(ctx, db.q(`SELECT seq, prev_hash, hash FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq`), last, head)
	if err != nil {
		return false, err
	}
	var hashes strings.Builder
	want := last + 1
	ok := true
	for rows.Next() {
		var seq int64
		var prevHash, hash string
		if err := rows.Scan(&seq, &prevHash, &hash); err != nil {
			rows.Close()
			return false, err
		}
		if seq != want || (want > 1 && prev != "" && prevHash != prev) || len(hash) != 64 {
			ok = false
		}
		hashes.WriteString(hash)
		prev = hash
		want++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if !ok || want-1 != head {
		return false, nil
	}
	cp := AuditCheckpoint{FirstSeq: last + 1, LastSeq: head, Time: norm(time.Now()), Hashes: hashes.String(),
		KeyID: AuditKeyID(s.key.Public().(ed25519.PublicKey))}
	cp.Signature = hex.EncodeToString(ed25519.Sign(s.key, cp.message()))
	_, err = tx.ExecContext(ctx, db.q(`INSERT INTO audit_checkpoints (last_seq, first_seq, time, hashes, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)`),
		cp.LastSeq, cp.FirstSeq, micros(cp.Time), cp.Hashes, cp.KeyID, cp.Signature)
	return err == nil, err
}

// ListAuditCheckpoints returns the checkpoints in order of their range.
func (db *DB) ListAuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT first_seq, last_seq, time, hashes, key_id, signature FROM audit_checkpoints ORDER BY last_seq`)
	if err != nil {
		return nil, fmt.Errorf("store: list audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []AuditCheckpoint
	for rows.Next() {
		var c AuditCheckpoint
		var t int64
		if err := rows.Scan(&c.FirstSeq, &c.LastSeq, &t, &c.Hashes, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("store: list audit checkpoints: %w", err)
		}
		c.Time = fromMicros(t)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit checkpoints: %w", err)
	}
	return out, nil
}
