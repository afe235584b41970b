package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badScheduler is a valid site and a scheduler section with a misspelt key
// on line 11 and a bad value on line 13.
const badScheduler = `sites:
  - id: a
    kind: factory
    country: DE
    driver: sim
    pools:
      - name: gpu
        model: H100
        accelerators_per_node: 8
        nodes: 4
scheduler:
  backfil_depth: 4
  preemption: {grace: soon}
`

// TestBadSchedulerSectionRefused: gf serve --config and gf simulate
// --config read the scheduler section through the same function, and both
// refuse a bad one before doing anything else, naming file:line and field.
func TestBadSchedulerSectionRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gf.yaml")
	if err := os.WriteFile(cfg, []byte(badScheduler), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"serve":    {"--data", filepath.Join(dir, "data"), "serve", "--config", cfg, "--listen", "127.0.0.1:0"},
		"simulate": {"simulate", "--config", cfg, "--trace", "philly:" + filepath.Join(dir, "absent.csv"), "--out", filepath.Join(dir, "out")},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runGF(t, args...)
			if code == 0 {
				t.Fatalf("gf %v started with a bad scheduler section", args)
			}
			for _, want := range []string{
				cfg + `:12: scheduler.backfil_depth: unknown field "backfil_depth"; did you mean "backfill_depth"?`,
				cfg + ":13: scheduler.preemption.grace: want a duration",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}
