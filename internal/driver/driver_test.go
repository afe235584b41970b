package driver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/driver"
)

// Real failures, made for real where the machine allows it, classified by
// cause: the site's (back off, retry the job) or the job's (fail it).
func TestTransient(t *testing.T) {
	dir := t.TempDir()
	// A job's own failures, as os/exec and os report them.
	e2big := exec.Command("true", strings.Repeat("x", 200<<10)).Run()
	missingProg := exec.Command(filepath.Join(dir, "no-such-program")).Run()
	_, missingDir := os.OpenFile(filepath.Join(dir, "missing", "out.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	notExec := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(notExec, []byte("not a program"), 0o600); err != nil {
		t.Fatal(err)
	}
	permission := exec.Command(notExec).Run()
	badFormat := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFormat, []byte{0x7f, 'E', 'L', 'F', 0, 0}, 0o700); err != nil {
		t.Fatal(err)
	}
	execFormat := exec.Command(badFormat).Run()
	// A site's failures: a refused connection and a timed-out request on
	// loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := http.Get("http://" + addr + "/")
	slow, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, timeout := (&http.Client{Timeout: 50 * time.Millisecond}).Get("http://" + slow.Addr().String() + "/")

	tests := map[string]struct {
		err  error
		want bool
	}{
		"nil":                         {nil, false},
		"E2BIG (200 KB argument)":     {fmt.Errorf("start job 1: %w", e2big), false},
		"missing program":             {missingProg, false},
		"output in a missing dir":     {fmt.Errorf("start job 1: %w", missingDir), false},
		"not executable (permission)": {permission, false},
		"exec format":                 {execFormat, false},
		"bare errno EACCES":           {syscall.EACCES, false},
		"path refused by the driver":  {errors.New(`output "../gf.db" escapes the job's directory`), false},
		"ErrUnavailable":              {fmt.Errorf("submit: %w", driver.ErrUnavailable), true},
		"connection refused":          {refused, true},
		"request timed out":           {timeout, true},
		"bare errno ECONNREFUSED":     {fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		"no space left on the site":   {&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		"call cancelled":              {fmt.Errorf("start job 1: %w", context.Canceled), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil && name != "nil" {
				t.Fatal("the failure did not happen: the test cannot tell anything")
			}
			if got := driver.Transient(tc.err); got != tc.want {
				t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
