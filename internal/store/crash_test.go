package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// crashDSN, when set, turns TestCrashChild into the process that
// TestDurabilityKill9 kills.
const crashDSN = "GF_STORE_CRASH_DSN"

// TestDurabilityKill9 re-runs this test binary as a child that submits jobs
// as fast as it can from several goroutines (singles and batches, so group
// commits are in flight) and prints each id once SubmitJobs has returned. The
// parent SIGKILLs it mid-stream, reopens the store and checks that every
// acknowledged job is there.
func TestDurabilityKill9(t *testing.T) {
	if os.Getenv(crashDSN) != "" {
		t.Skip("running as the child")
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dsn := be.fresh(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDSN+"="+dsn)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var acked []core.JobID
			killed := false
			deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				id, ok := strings.CutPrefix(sc.Text(), "ack ")
				if !ok {
					continue
				}
				n, err := strconv.ParseInt(id, 10, 64)
				if err != nil {
					t.Fatalf("child printed %q", sc.Text())
				}
				acked = append(acked, core.JobID(n))
				if len(acked) == 2000 && !killed {
					cmd.Process.Kill() // SIGKILL: no deferred Close, no flush
					killed = true
				}
			}
			err = cmd.Wait()
			if !killed {
				t.Fatalf("child ended before it was killed (%d acks): %v", len(acked), err)
			}
			db := open(t, dsn)
			ctx := context.Background()
			for _, id := range acked {
				if _, err := db.GetJob(ctx, id); err != nil {
					t.Fatalf("acknowledged job %d lost after kill -9: %v", id, err)
				}
			}
			n, err := db.CountJobs(ctx, store.JobFilter{})
			if err != nil || n < len(acked) {
				t.Fatalf("CountJobs = %d, %v; want at least the %d acknowledged", n, err, len(acked))
			}
			if _, err := db.VerifyAudit(ctx); err != nil {
				t.Error(err)
			}
			t.Logf("%d acknowledged jobs survived kill -9 (%d stored)", len(acked), n)
		})
	}
}

// TestCrashChild is the child of TestDurabilityKill9; it does nothing in a
// normal run.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashDSN)
	if dsn == "" {
		t.Skip("helper process for TestDurabilityKill9")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var mu sync.Mutex
	ack := func(jobs []core.Job) {
		var b strings.Builder
		for _, j := range jobs {
			fmt.Fprintf(&b, "ack %d\n", j.ID)
		}
		mu.Lock()
		os.Stdout.WriteString(b.String()) // one write(2): nothing buffered to lose
		mu.Unlock()
	}
	for g := range 8 {
		go func() {
			size := 1
			if g == 0 {
				size = 25
			}
			for i := 0; ; i++ {
				var batch []core.Job
				for k := range size {
					batch = append(batch, jobOf(fmt.Sprintf("g%d-%d-%d", g, i, k), "ada", "p1", withKey(fmt.Sprintf("g%d-%d-%d", g, i, k))))
				}
				js, _, err := db.SubmitJobs(ctx, batch)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				ack(js)
			}
		}()
	}
	// Audit appends run beside the submissions, so a torn audit write would
	// show in VerifyAudit after the kill.
	go func() {
		for i := 0; ; i++ {
			if _, err := db.AppendAudit(ctx, store.AuditEntry{Actor: "child", Action: "tick", Object: strconv.Itoa(i)}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(5)
			}
		}
	}()
	select {}
}
