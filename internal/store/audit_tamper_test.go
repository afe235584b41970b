package store_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// signedLog writes 14 entries with a checkpoint every 4: seq 1..12 are
// signed (checkpoints 1-4, 5-8, 9-12) and 13..14 are covered by the chain
// alone.
func signedLog(t *testing.T, db *store.DB) ed25519.PublicKey {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db.SetAuditSigner(key, 4)
	ctx := context.Background()
	for i := range 14 {
		if _, err := db.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "ada", Action: "job.submit", Object: fmt.Sprint("job/", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := db.ListAuditCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, c := range cps {
		ranges = append(ranges, fmt.Sprintf("%d-%d", c.FirstSeq, c.LastSeq))
	}
	if got := strings.Join(ranges, " "); got != "1-4 5-8 9-12" {
		t.Fatalf("checkpoints cover %q, want \"1-4 5-8 9-12\"", got)
	}
	return pub
}

// rawEntries reads every stored entry, as an attacker with the database
// would.
func rawEntries(t *testing.T, db *store.DB) []store.AuditEntry {
	t.Helper()
	es, err := db.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// recompute rewrites prev_hash and hash of every entry from seq on, so the
// chain links up again: what someone who can write the database but does
// not hold the key can do.
func recompute(t *testing.T, db *store.DB, from int64) {
	t.Helper()
	ctx := context.Background()
	prev := ""
	for _, e := range rawEntries(t, db) {
		if e.Seq >= from {
			e.PrevHash = prev
			e.Hash = store.ChainHash(prev, e)
			if err := db.ExecRaw(ctx, `UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq); err != nil {
				t.Fatal(err)
			}
		}
		prev = e.Hash
	}
}

func tamperSQL(t *testing.T, db *store.DB, queries ...string) {
	t.Helper()
	for _, q := range queries {
		if err := db.ExecRaw(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestAuditTamper is issue 15's acceptance: every kind of tampering is
// detected and located (the seq named), on every backend, and a chain
// recomputed without the key is told apart from a plainly broken one.
func TestAuditTamper(t *testing.T) {
	tests := map[string]struct {
		tamper     func(t *testing.T, db *store.DB)
		seq        int64  // the first seq named
		kind       string // its kind
		recomputed bool
	}{
		"edit": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET actor = 'mallory' WHERE seq = 6`)
			},
			seq: 6, kind: store.AuditEdited,
		},
		"delete": {
			tamper: func(t *testing.T, db *store.DB) { tamperSQL(t, db, `DELETE FROM audit WHERE seq = 6`) },
			seq:    6, kind: store.AuditMissing,
		},
		"delete and recompute": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `DELETE FROM audit WHERE seq = 6`,
					`UPDATE audit SET seq = -(seq - 1) WHERE seq > 6`, `UPDATE audit SET seq = -seq WHERE seq < 0`,
					`UPDATE counters SET value = value - 1 WHERE name = 'audit'`)
				recompute(t, db, 6)
			},
			seq: 6, kind: store.AuditRecomputed, recomputed: true,
		},
		"insert": {
			tamper: func(t *testing.T, db *store.DB) {
				// Make room at seq 6, then write an entry that links to seq 5.
				tamperSQL(t, db, `UPDATE audit SET seq = -(seq + 1) WHERE seq >= 6`, `UPDATE audit SET seq = -seq WHERE seq < 0`)
				five := rawEntries(t, db)[4]
				e := store.AuditEntry{Seq: 6, Time: five.Time, Actor: "mallory", Action: "role.grant", Object: "user/mallory", PrevHash: five.Hash}
				e.Hash = store.ChainHash(e.PrevHash, e)
				if err := db.ExecRaw(context.Background(), `INSERT INTO audit (seq, time, actor, action, object, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, '', ?, ?)`,
					e.Seq, e.Time.UnixMicro(), e.Actor, e.Action, e.Object, e.PrevHash, e.Hash); err != nil {
					t.Fatal(err)
				}
			},
			seq: 6, kind: store.AuditRecomputed,
		},
		"insert and recompute": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET seq = -(seq + 1) WHERE seq >= 6`, `UPDATE audit SET seq = -seq WHERE seq < 0`)
				tamperSQL(t, db, fmt.Sprintf(`INSERT INTO audit (seq, time, actor, action, object, detail, prev_hash, hash) VALUES (6, %d, 'mallory', 'role.grant', 'user/mallory', '', '', '')`, t0.UnixMicro()),
					`UPDATE counters SET value = value + 1 WHERE name = 'audit'`)
				recompute(t, db, 6)
			},
			seq: 6, kind: store.AuditRecomputed, recomputed: true,
		},
		"swap": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET seq = -1 WHERE seq = 6`, `UPDATE audit SET seq = 6 WHERE seq = 7`, `UPDATE audit SET seq = 7 WHERE seq = -1`)
			},
			seq: 6, kind: store.AuditLink,
		},
		"swap and recompute": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET seq = -1 WHERE seq = 6`, `UPDATE audit SET seq = 6 WHERE seq = 7`, `UPDATE audit SET seq = 7 WHERE seq = -1`)
				recompute(t, db, 6)
			},
			seq: 6, kind: store.AuditRecomputed, recomputed: true,
		},
		"cut the unsigned tail": {
			tamper: func(t *testing.T, db *store.DB) { tamperSQL(t, db, `DELETE FROM audit WHERE seq > 12`) },
			seq:    13, kind: store.AuditTail,
		},
		"cut the signed tail and the counter": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `DELETE FROM audit WHERE seq > 10`, `UPDATE counters SET value = 10 WHERE name = 'audit'`)
			},
			seq: 11, kind: store.AuditTail,
		},
		"recompute the whole chain": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET detail = 'rewritten' WHERE seq = 6`)
				recompute(t, db, 1)
			},
			seq: 6, kind: store.AuditRecomputed, recomputed: true,
		},
		"forge a checkpoint": {
			tamper: func(t *testing.T, db *store.DB) {
				tamperSQL(t, db, `UPDATE audit SET detail = 'rewritten' WHERE seq = 6`)
				recompute(t, db, 1)
				es := rawEntries(t, db)
				var hashes string
				for _, e := range es[4:8] {
					hashes += e.Hash
				}
				if err := db.ExecRaw(context.Background(), `UPDATE audit_checkpoints SET hashes = ? WHERE last_seq = 8`, hashes); err != nil {
					t.Fatal(err)
				}
			},
			seq: 5, kind: store.AuditBadCheckpoint, recomputed: true,
		},
		"delete a checkpoint": {
			tamper: func(t *testing.T, db *store.DB) { tamperSQL(t, db, `DELETE FROM audit_checkpoints WHERE last_seq = 8`) },
			seq:    5, kind: store.AuditBadCheckpoint,
		},
	}
	eachBackend(t, func(t *testing.T, db *store.DB) {
		for name, tc := range tests {
			t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
				ctx := context.Background()
				// Each case its own log: truncate what the last one left.
				tamperSQL(t, db, `DELETE FROM audit`, `DELETE FROM audit_checkpoints`, `UPDATE counters SET value = 0 WHERE name = 'audit'`)
				pub := signedLog(t, db)
				if r, err := db.VerifyAuditKey(ctx, pub); err != nil || !r.OK() || r.Entries != 14 || r.SignedThrough != 12 {
					t.Fatalf("before tampering: %+v, %v; want 14 entries, sound, signed through 12", r, err)
				}
				tc.tamper(t, db)
				r, err := db.VerifyAuditKey(ctx, pub)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK() {
					t.Fatalf("tampering not detected: %+v", r)
				}
				if p := r.Problems[0]; p.Seq != tc.seq || p.Kind != tc.kind {
					t.Errorf("first finding %+v; want seq %d, kind %s (all: %+v)", p, tc.seq, tc.kind, r.Problems)
				}
				if r.Recomputed != tc.recomputed {
					t.Errorf("Recomputed = %t, want %t (%+v)", r.Recomputed, tc.recomputed, r.Problems)
				}
				err = r.Err()
				if !errors.Is(err, store.ErrAuditBroken) || !strings.HasPrefix(err.Error(), fmt.Sprintf("seq %d: ", tc.seq)) {
					t.Errorf("Err() = %v; want ErrAuditBroken starting with seq %d", err, tc.seq)
				}
				if tc.recomputed && !strings.Contains(err.Error(), "recomputed without the signing key") {
					t.Errorf("Err() = %v; want it to say the chain was recomputed without the key", err)
				}
				// Without the key a recomputed chain looks sound: that is
				// what the checkpoints are for.
				if tc.recomputed {
					if r, _ := db.VerifyAuditKey(ctx, nil); !r.OK() {
						t.Errorf("chain alone: %+v; a recomputed chain should link up", r.Problems)
					}
				}
			})
		}
	})
}

func TestAuditCheckpointWrongKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		signedLog(t, db)
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		r, err := db.VerifyAuditKey(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() || r.Problems[0].Kind != store.AuditBadCheckpoint || !strings.Contains(r.Problems[0].Message, "signed by key") {
			t.Errorf("another key: %+v; want the checkpoints refused as signed by another key", r.Problems)
		}
	})
}

// TestAuditCheckpointTimer: CheckpointAudit signs what the count did not
// reach, and nothing when there is nothing new.
func TestAuditCheckpointTimer(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pub := signedLog(t, db)
		for i, want := range []bool{true, false} {
			wrote, err := db.CheckpointAudit(ctx)
			if err != nil || wrote != want {
				t.Fatalf("CheckpointAudit #%d = %t, %v; want %t", i+1, wrote, err, want)
			}
		}
		r, err := db.VerifyAuditKey(ctx, pub)
		if err != nil || !r.OK() || r.SignedThrough != 14 || r.Checkpoints != 4 {
			t.Errorf("after a timed checkpoint: %+v, %v; want sound, 4 checkpoints, signed through 14", r, err)
		}
	})
}

// TestWithAudit: an entry attached to the context commits with the change,
// once, and not at all when the change fails.
func TestWithAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		actx := store.WithAudit(ctx, store.AuditEntry{Actor: "root", Action: "site.drain", Object: "site/a"})
		if store.AuditWritten(actx) {
			t.Fatal("AuditWritten before any transaction")
		}
		if err := db.SetMeta(actx, "site_state/a", "draining"); err != nil {
			t.Fatal(err)
		}
		if err := db.SetMeta(actx, "site_state/a", "draining"); err != nil {
			t.Fatal(err)
		}
		if !store.AuditWritten(actx) {
			t.Error("AuditWritten = false after the change committed")
		}
		es := rawEntries(t, db)
		if len(es) != 1 || es[0].Action != "site.drain" {
			t.Errorf("audit = %+v; want one site.drain entry", es)
		}
		// A change that fails takes its entry with it.
		fctx := store.WithAudit(ctx, store.AuditEntry{Actor: "root", Action: "project.create", Object: "project/p"})
		if err := db.CreateProject(fctx, core.Project{Name: "p", Org: "no-such-org"}); err == nil {
			t.Fatal("CreateProject in a missing org succeeded")
		}
		if store.AuditWritten(fctx) || len(rawEntries(t, db)) != 1 {
			t.Errorf("a failed change left an audit entry: %+v", rawEntries(t, db))
		}
	})
}

func TestAuditKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.AuditKeyFile)
	key, created, err := store.LoadOrCreateAuditKey(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateAuditKey = %t, %v; want created", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := store.LoadOrCreateAuditKey(path)
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("second LoadOrCreateAuditKey = %t, %v; want the same key, not created", created, err)
	}
	pub := key.Public().(ed25519.PublicKey)
	b, _ := os.ReadFile(path)
	for name, text := range map[string]string{"hex": store.FormatAuditPublicKey(pub), "hex with newline": store.FormatAuditPublicKey(pub) + "\n", "private key PEM": string(b)} {
		got, err := store.ParseAuditPublicKey(text)
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParseAuditPublicKey(%s) = %x, %v; want %x", name, got, err, pub)
		}
	}
	for _, bad := range []string{"", "abcd", "not a key"} {
		if _, err := store.ParseAuditPublicKey(bad); err == nil || !strings.Contains(err.Error(), "public key") {
			t.Errorf("ParseAuditPublicKey(%q) = %v; want an error naming the public key", bad, err)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.LoadOrCreateAuditKey(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("a world-readable key: %v; want it refused", err)
	}
}

func TestFindAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i, e := range []store.AuditEntry{
			{Actor: "ada", Action: "award.create", Object: "award/A1"},
			{Actor: "bob", Action: "award.extend", Object: "award/A1"},
			{Actor: "ada", Action: "member.add", Object: "project/p_1"},
			{Actor: "ada", Action: "awards.x", Object: "awardx/1"},
		} {
			e.Time = t0.Add(time.Duration(i) * time.Hour)
			if _, err := db.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := map[string]struct {
			f    store.AuditFilter
			want string
		}{
			"all":             {store.AuditFilter{}, "1 2 3 4"},
			"actor":           {store.AuditFilter{Actor: "ada"}, "1 3 4"},
			"action exact":    {store.AuditFilter{Action: "award.create"}, "1"},
			"action prefix":   {store.AuditFilter{Action: "award."}, "1 2"},
			"object exact":    {store.AuditFilter{Object: "project/p_1"}, "3"},
			"object prefix":   {store.AuditFilter{Object: "award/"}, "1 2"},
			"underscore kept": {store.AuditFilter{Object: "project/p%1"}, ""},
			"since until":     {store.AuditFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, "2 3"},
			"after and limit": {store.AuditFilter{AfterSeq: 1, Limit: 2}, "2 3"},
			"combined":        {store.AuditFilter{Actor: "ada", Object: "award/"}, "1"},
		}
		for name, tc := range tests {
			es, err := db.FindAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []string
			for _, e := range es {
				seqs = append(seqs, fmt.Sprint(e.Seq))
			}
			if got := strings.Join(seqs, " "); got != tc.want {
				t.Errorf("%s: FindAudit(%+v) = %q, want %q", name, tc.f, got, tc.want)
			}
		}
	})
}
