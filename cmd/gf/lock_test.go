package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second `gf serve` on a data directory a server holds exits non-zero
// at once, naming the directory and the holder's pid, without touching
// the database; the first server goes on answering.
func TestSecondServeOnSameDataRefused(t *testing.T) {
	dir := t.TempDir()
	first := startCrashServer(t, dir)
	db := filepath.Join(dir, "gf.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	tokBefore, err := os.Stat(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	// A minute is far more than it needs; it must not serve (or hang).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	second := exec.CommandContext(ctx, gfBinary(t), "--data", dir, "serve", "--listen", "127.0.0.1:0")
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	err = second.Run()
	if ctx.Err() != nil {
		t.Fatalf("the second gf serve did not exit:\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("the second gf serve exited 0:\n%s", out.String())
	}
	msg := out.String()
	for _, want := range []string{dir, fmt.Sprintf("process %d", first.cmd.Process.Pid), "in use"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "serving") {
		t.Errorf("the second server says it serves:\n%s", msg)
	}

	after, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("gf.db changed under the refused server: %v %d bytes, was %v %d", after.ModTime(), after.Size(), before.ModTime(), before.Size())
	}
	if tokAfter, err := os.Stat(filepath.Join(dir, "admin.token")); err != nil || !tokAfter.ModTime().Equal(tokBefore.ModTime()) {
		t.Errorf("admin.token rewritten by the refused server (%v)", err)
	}
	if code, body, err := first.request("GET", "/api/v1/users/me", ""); err != nil || code != 200 {
		t.Errorf("the first server after the refusal: %d %s %v", code, body, err)
	}
}

// --log-format json makes every line of the server's log a JSON object;
// an unknown format is refused, naming the flag.
func TestServeLogFormat(t *testing.T) {
	dir := t.TempDir()
	s := startCrashServer(t, dir, "--log-format", "json")
	if code, body, err := s.request("GET", "/api/v1/jobs", ""); err != nil || code != 200 {
		t.Fatalf("GET /api/v1/jobs: %d %s %v", code, body, err)
	}
	s.kill()
	var sawRequest bool
	for _, line := range strings.Split(s.log.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the banner on stdout
		}
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"path":"/api/v1/jobs"`) && strings.Contains(line, `"user":"admin"`) {
			sawRequest = true
		}
	}
	if !sawRequest {
		t.Errorf("no JSON request line for GET /api/v1/jobs:\n%s", s.log.String())
	}
	if strings.Contains(s.log.String(), s.token) {
		t.Errorf("the log holds the token")
	}

	out, err := exec.Command(gfBinary(t), "--data", t.TempDir(), "serve", "--log-format", "xml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--log-format") {
		t.Errorf("--log-format xml: %v\n%s", err, out)
	}
}
