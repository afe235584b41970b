package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExplainOnEUNetworkGolden runs the real gf serve on the EU reference
// network and checks gf explain's site choice for a job that may only run
// in Germany, and its re-routing when the winning site goes down.
func TestExplainOnEUNetworkGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real gf processes")
	}
	dir := t.TempDir()
	srv := startCrashServer(t, dir, "--network", "eu")
	gf := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gfBinary(t), append([]string{"--url", srv.url, "--token", srv.token}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gf %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := gf("submit", "--residency", "DE", "-a", "16", "-t", "2h", "--", "sleep", "600"); !strings.Contains(out, "Submitted batch job 1") {
		t.Fatalf("submit: %s", out)
	}
	siteChoice := func() string {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out := gf("explain", "1")
			if i := strings.Index(out, "Site choice"); i >= 0 && strings.Contains(gf("show", "1"), "running") {
				return out[i:]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no site choice in:\n%s", out)
			}
		}
	}
	first := siteChoice()
	gf("site", "down", strings.Fields(first[strings.Index(first, "winner: ")+8:])[0])
	var second string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		second = siteChoice()
		if strings.Contains(second, "site down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job was not re-routed:\n%s", second)
		}
	}
	got := first + "\n--- after gf site down ---\n" + second
	path := filepath.Join("testdata", "explain_eu.golden")
	if os.Getenv("GF_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (set GF_UPDATE_GOLDEN=1 to create it)", err)
	}
	if got != string(want) {
		t.Errorf("gf explain differs from %s (GF_UPDATE_GOLDEN=1 rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	if !strings.Contains(second, "re-routed 1 times") {
		t.Errorf("re-route not counted:\n%s", second)
	}
}
