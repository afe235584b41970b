package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
)

// TestE2EAIAct: a job that declares a lineage is planned into the ledger
// at submission (its 6 x P x D above 1e23 raises the GPAI notification
// then) and its run is added when it ends; gf ai-act models and report
// show both; after a restart the ledger has lost nothing and raised
// nothing again.
func TestE2EAIAct(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServerIn(t, dir)
	spec := filepath.Join(dir, "train.yaml")
	if err := os.WriteFile(spec, []byte("command: [sleep, \"0.3\"]\naccelerators: 1\nlineage:\n  model: euro-10b\n  parameters: 1e10\n  tokens: 2e12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := s.submit(spec)
	if j := s.waitEnded(id, 60*time.Second); j.State != core.StateCompleted {
		t.Fatalf("job %d ended %s (%s)", id, j.State, j.Reason)
	}
	models := func(s *server) []aiact.Model {
		var ms []aiact.Model
		if err := json.Unmarshal([]byte(s.must("ai-act", "models", "-o", "json")), &ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	notices := func(s *server) []aiact.Notification {
		var ns []aiact.Notification
		if err := json.Unmarshal([]byte(s.must("ai-act", "notifications", "-o", "json")), &ns); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	check := func(s *server, when string) {
		ms := models(s)
		if len(ms) != 1 || ms[0].ID != "euro-10b" || len(ms[0].Hardware.Jobs) != 1 || ms[0].Hardware.Jobs[0] != id ||
			ms[0].Architecture == nil || ms[0].Architecture.FLOP != 1.2e23 || ms[0].TrainingHours <= 0 {
			t.Fatalf("%s: models %+v, want euro-10b with job %d's run and 1.2e23 by 6PD", when, ms, id)
		}
		ns := notices(s)
		if len(ns) != 1 || ns[0].Kind != aiact.CrossedGPAI || ns[0].Job != id || !ns[0].Projected {
			t.Fatalf("%s: notifications %+v, want one gpai, projected at job %d's submission", when, ns, id)
		}
		md := s.must("ai-act", "report", "euro-10b")
		for _, want := range []string{"# AI Act report: model euro-10b", "1.2e+23 FLOP", "gpai", "utilisation 40%"} {
			if !strings.Contains(md, want) {
				t.Errorf("%s: gf ai-act report lacks %q:\n%s", when, want, md)
			}
		}
	}
	check(s, "before the restart")
	s.stop()
	s = startServerIn(t, dir)
	check(s, "after the restart")
	if r := s.gf("ai-act", "report"); r.code != 2 {
		t.Errorf("gf ai-act report without MODEL: %s, want exit 2", r)
	}
}
