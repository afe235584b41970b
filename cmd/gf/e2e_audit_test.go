package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EAuditVerify: a real gf serve signs its audit log; gf audit verify
// passes online and offline, and after the database is edited behind the
// server's back the offline check names the entry and exits non-zero.
func TestE2EAuditVerify(t *testing.T) {
	s := startServer(t, "--audit-checkpoint-every", "2")
	s.must("submit", "--", "true")
	s.must("submit", "--", "true")
	key := strings.TrimSpace(s.must("audit", "key"))
	if len(key) != 64 {
		t.Fatalf("gf audit key printed %q, want 64 hex digits", key)
	}
	if out := s.must("audit", "verify"); !strings.Contains(out, "Audit log verified") {
		t.Errorf("online verify: %s", out)
	}
	if out := s.must("audit", "log", "--action", "config.load"); !strings.Contains(out, "config/default") || !strings.Contains(out, "sha256 ") {
		t.Errorf("gf audit log --action config.load: %s", out)
	}
	s.stop()
	keyFile := filepath.Join(t.TempDir(), "audit.pub")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := s.must("audit", "verify", "--public-key", keyFile); !strings.Contains(out, "Audit log verified") || !strings.Contains(out, "signed through seq") {
		t.Errorf("offline verify: %s", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(s.data, "gf.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := s.gf("audit", "verify", "--public-key", key)
	if r.code == 0 || !strings.Contains(r.stdout, "seq 2: audit chain broken") || !strings.Contains(r.stdout, "edited") {
		t.Errorf("offline verify of an edited log: %s; want a non-zero exit naming seq 2", r)
	}
	other := strings.Repeat("ab", 32)
	if r := s.gf("audit", "verify", "--public-key", other); r.code == 0 || !strings.Contains(r.stdout, "signed by key") {
		t.Errorf("offline verify with another key: %s; want the checkpoints refused", r)
	}
	if r := s.gf("audit", "verify", "--public-key", "nonsense"); r.code == 0 || !strings.Contains(r.stderr, "--public-key") {
		t.Errorf("a bad --public-key: %s; want an error naming the flag", r)
	}
}
