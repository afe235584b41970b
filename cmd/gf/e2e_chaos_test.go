package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Chaos tests of issue 19 beyond a leader's death (e2e_leader_test.go):
// PostgreSQL restarted under two controllers, SQLite on a full disk, and a
// controller stopped (SIGTERM) while requests are in flight. Each asserts,
// from the store, that no acknowledged job is lost, none is duplicated,
// and no accelerator was given to two jobs at once (checkStore).

// skipOrFail skips the test saying why, or fails it under CI, where a
// skipped chaos test would be a lost one.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set, but " + why)
	}
	t.Skip(why)
}

// pgCluster is a PostgreSQL cluster of the test's own, in a temporary
// directory, that the test may restart without disturbing anyone else's.
type pgCluster struct {
	bin, data, sock string
	port            int
	as              []string // runuser -u postgres -- when the test runs as root
}

// privatePostgres initialises and starts a cluster of the test's own with
// the newest /usr/lib/postgresql/*/bin, on a free loopback port; it is
// stopped at cleanup. It returns the cluster and its DSN.
func privatePostgres(t *testing.T) (*pgCluster, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and real gf processes")
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		skipOrFail(t, "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	sort.Slice(bins, func(i, j int) bool { return pgMajor(bins[i]) < pgMajor(bins[j]) })
	c := &pgCluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// The server refuses to run as root: it runs as postgres, which
		// must reach the directory through the test's own temporary one.
		u, err := osuser.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root and there is no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	c.data, c.sock = filepath.Join(dir, "data"), dir
	t0 := time.Now()
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A free port: another suite may take it between here and the
	// start, so a failed start tries another.
	for try := 0; ; try++ {
		c.port = freePort(t)
		out, err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60",
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.sock), "start")
		if err == nil {
			break
		}
		if try == 3 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
	t.Cleanup(func() { _, _ = c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop") })
	t.Logf("private PostgreSQL (%s) initialised and started in %.2f s on port %d", c.bin, time.Since(t0).Seconds(), c.port)
	return c, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// pgMajor is the major version in a path /usr/lib/postgresql/N/bin/...
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// run runs one of the cluster's programs and returns its output. The
// output goes through a file, not a pipe: the server pg_ctl starts would
// hold a pipe open, and the wait for its end would last as long.
func (c *pgCluster) run(prog string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, c.as...), filepath.Join(c.bin, prog)), args...)
	out, err := os.CreateTemp(c.sock, "run-*.out")
	if err != nil {
		return nil, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	return b, err
}

// restart stops the server (fast: clients are disconnected, their
// transactions rolled back) and starts it again, and says how long the
// server was away.
func (c *pgCluster) restart(t *testing.T) time.Duration {
	t0 := time.Now()
	if out, err := c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "restart"); err != nil {
		t.Errorf("pg_ctl restart: %v\n%s", err, out)
	}
	return time.Since(t0)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestChaosPostgresRestarted: two controllers on a PostgreSQL of the
// test's own, a storm of 2,000 keyed submissions across both, and the
// server restarted (pg_ctl restart -m fast, every connection cut) a third
// of the way in. Clients retry with their keys on errors. The controllers
// reconnect by themselves; every acknowledged job is in the store once,
// no accelerator is held twice, and the leader places jobs after the
// restart.
func TestChaosPostgresRestarted(t *testing.T) {
	pg, dsn := privatePostgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b, token := twoControllersOn(t, dsn)
	const n = 2000
	var (
		away                time.Duration
		back                time.Time
		reconnect           [2]time.Duration
		restartedAt, upByPG time.Time
	)
	done := make(chan struct{})
	st := stormCounted(t, []*controller{a, b}, token, n, "300ms", func() {
		defer close(done)
		restartedAt = time.Now()
		away = pg.restart(t)
		upByPG = time.Now()
		// How long after the server is back each controller takes a
		// submission again (a probe of its own key).
		for i, c := range []*controller{a, b} {
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				code, _, err := c.call(token, "POST", "/api/v1/jobs", chaosJob(i, "1s"), "Idempotency-Key", "probe-"+c.id)
				if err == nil && code/100 == 2 {
					reconnect[i] = time.Since(upByPG)
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s takes no submission 30 s after PostgreSQL came back (%d %v):\n%s", c.id, code, err, c.logs())
					break
				}
			}
		}
		back = time.Now()
	})
	<-done
	t.Logf("PostgreSQL restarted (-m fast) in %.2f s; submissions accepted again %.2f s (a) and %.2f s (b) after it was back", away.Seconds(), reconnect[0].Seconds(), reconnect[1].Seconds())
	t.Logf("clients' failed tries during the storm: %d (%v), all retried with their keys", st.retries, st.answers)
	waitPlaced(t, db, n)
	ps := checkStore(t, db, st.acked, n)
	// The leader schedules again: placements after the restart.
	after := 0
	for _, p := range ps {
		if p.at > back.UnixMicro() {
			after++
		}
	}
	if after == 0 {
		t.Errorf("no job placed after PostgreSQL came back: the leader does not schedule again\na:\n%s", a.logs())
	}
	holder, epoch, _ := leaseEpoch(t, db)
	t.Logf("placements after the restart: %d; lease held by %s in epoch %d; outage window %s", after, holder, epoch, back.Sub(restartedAt).Round(time.Millisecond))
	for _, c := range []*controller{a, b} {
		if c.cmd.ProcessState != nil {
			t.Errorf("%s exited during the outage:\n%s", c.id, c.logs())
		}
	}
}

// TestChaosSQLiteDiskFull: gf serve on SQLite whose data directory is a
// small tmpfs. The disk is filled (a file of the test's own) and
// submissions go on until writes fail: the API answers 507 saying the
// disk is full, acknowledges nothing it did not store, and neither
// panics nor exits. Once the file is deleted the refused submissions go
// through with their keys, the database passes PRAGMA integrity_check,
// and every acknowledged job is in it once.
func TestChaosSQLiteDiskFull(t *testing.T) {
	gfBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// 8 MiB: the empty database, its WAL and the server's files take
	// about 2.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot mount a tmpfs on the data directory (%v): the test needs root (CAP_SYS_ADMIN)", err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	c := startServe(t, "sqlite", dir, "--config", writeChaosConfig(t, filepath.Dir(dir)))
	token := adminToken(t, dir)
	submit := func(i int) (int, int64, string) {
		code, body, err := c.call(token, "POST", "/api/v1/jobs", chaosJob(i, "300ms"), "Idempotency-Key", fmt.Sprintf("storm-%d", i))
		if err != nil {
			t.Fatalf("submission %d: %v (the server died?):\n%s", i, err, c.logs())
		}
		var j struct {
			ID     int64  `json:"id"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &j)
		if code/100 == 2 && j.ID == 0 {
			t.Fatalf("submission %d: %d with no job id: %s", i, code, body)
		}
		return code, j.ID, string(body)
	}
	acked := map[string]int64{}
	for i := 0; i < 50; i++ {
		code, id, body := submit(i)
		if code/100 != 2 {
			t.Fatalf("submission %d before the disk is full: %d %s", i, code, body)
		}
		acked[fmt.Sprintf("storm-%d", i)] = id
	}
	// Fill the disk.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	filled := 0
	for {
		n, err := f.Write(chunk)
		filled += n
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	f.Close()
	// Submit until the store refuses, then some more: each refusal is a
	// 507 saying why.
	n, refused := 50, map[int]bool{}
	firstRefusal := 0
	var detail string
	for ; n < 4000 && len(refused) < 50; n++ {
		code, id, body := submit(n)
		switch {
		case code/100 == 2:
			if len(refused) > 0 && firstRefusal == 0 {
				firstRefusal = -1 // accepted after a refusal: space was found (a WAL frame reused)
			}
			acked[fmt.Sprintf("storm-%d", n)] = id
		case code == 507:
			if len(refused) == 0 {
				firstRefusal = n
				detail = body
			}
			refused[n] = true
		default:
			t.Fatalf("submission %d on a full disk: %d %s, want 2xx or 507\n%s", n, code, body, c.logs())
		}
	}
	if len(refused) == 0 {
		t.Fatalf("%d submissions on a full disk (%d bytes of filler), none refused", n-50, filled)
	}
	if !strings.Contains(detail, "disk is full") {
		t.Errorf("507's problem %s does not say the disk is full", detail)
	}
	t.Logf("disk full after %d bytes of filler; %d submissions accepted before the first 507 (submission %d), %d refused, answer %s",
		filled, len(acked)-50, firstRefusal, len(refused), strings.TrimSpace(detail))
	// Reads still work, and the server is alive.
	if code, _, err := c.call(token, "GET", "/api/v1/jobs?limit=5", ""); err != nil || code != 200 {
		t.Errorf("listing jobs on a full disk: %d %v", code, err)
	}
	if c.cmd.ProcessState != nil || strings.Contains(c.logs(), "panic") {
		t.Fatalf("the server exited or panicked on a full disk:\n%s", c.logs())
	}
	// Space again: the refused submissions go through with their keys.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := range refused {
		code, id, body := 0, int64(0), ""
		for try := 0; try < 50; try++ {
			if code, id, body = submit(i); code/100 == 2 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code/100 != 2 {
			t.Fatalf("submission %d after space was freed: %d %s", i, code, body)
		}
		acked[fmt.Sprintf("storm-%d", i)] = id
	}
	// The site runs them: the daemon writes again too.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "gf.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitPlaced(t, db, n)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("gf serve after SIGTERM: %v\n%s", err, c.logs())
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("PRAGMA integrity_check: %q, %v", check, err)
	}
	checkStore(t, db, acked, n)
}

// TestChaosShutdownDrains: SIGTERM to gf serve while 16 clients submit.
// The server stops listening, answers every request it took in, and
// exits 0: each job it stored was acknowledged to its client (none cut
// mid-way, stored with its answer lost). After a restart, the refused
// submissions go through with their keys, and every acknowledged job is
// in the store once.
func TestChaosShutdownDrains(t *testing.T) {
	gfBinary(t)
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	cfg := writeChaosConfig(t, root)
	c := startServe(t, "sqlite", dir, "--config", cfg)
	token := adminToken(t, dir)
	// The storm goes on until the server refuses connections (a client
	// stops at its first refusal), from at most limit keys; slow
	// submissions are sent half before SIGTERM and half after: in flight
	// for certain when it comes.
	const sigAfter, limit, workers, slow = 600, 100000, 16, 4
	var (
		next             atomic.Int64
		mu               sync.Mutex
		acked            = map[string]int64{}
		cut              []string
		refused, others  int
		termAt, exitedAt time.Time
		termOnce         sync.Once
		wg               sync.WaitGroup
		slowDone         int
	)
	exited := make(chan error, 1)
	terminate := func() {
		defer wg.Done()
		slowClient := &http.Client{Transport: &http.Transport{}}
		answers := make(chan string, slow)
		var rest []*io.PipeWriter
		for k := 0; k < slow; k++ {
			key := fmt.Sprintf("storm-s%d", k)
			body := chaosJob(k, "300ms")
			pr, pw := io.Pipe()
			req, err := http.NewRequest("POST", c.url+"/api/v1/jobs", pr)
			if err != nil {
				t.Error(err)
				return
			}
			req.ContentLength = int64(len(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Idempotency-Key", key)
			go func() {
				resp, err := slowClient.Do(req)
				if err != nil {
					answers <- fmt.Sprintf("%s: %v", key, err)
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				var j struct {
					ID int64 `json:"id"`
				}
				if resp.StatusCode/100 != 2 || json.Unmarshal(b, &j) != nil || j.ID == 0 {
					answers <- fmt.Sprintf("%s: %d %s", key, resp.StatusCode, b)
					return
				}
				mu.Lock()
				acked[key] = j.ID
				slowDone++
				mu.Unlock()
				answers <- ""
			}()
			go func() { _, _ = io.WriteString(pw, body[:len(body)/2]) }()
			rest = append(rest, pw)
		}
		// The server has read their first halves: their handlers wait
		// for the rest.
		time.Sleep(time.Second)
		termAt = time.Now()
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		go func() { exited <- c.cmd.Wait(); exitedAt = time.Now() }()
		time.Sleep(500 * time.Millisecond)
		if c.cmd.ProcessState != nil {
			t.Errorf("gf serve exited within 0.5 s of SIGTERM with %d submissions half sent", slow)
		}
		for k, pw := range rest {
			body := chaosJob(k, "300ms")
			_, _ = io.WriteString(pw, body[len(body)/2:])
			pw.Close()
		}
		for k := 0; k < slow; k++ {
			if a := <-answers; a != "" {
				t.Errorf("a submission in flight at SIGTERM was not answered: %s", a)
			}
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= limit {
					return
				}
				if i == sigAfter {
					termOnce.Do(func() {
						wg.Add(1)
						go terminate()
					})
				}
				key := fmt.Sprintf("storm-%d", i)
				code, body, err := c.call(token, "POST", "/api/v1/jobs", chaosJob(i, "300ms"), "Idempotency-Key", key)
				mu.Lock()
				switch {
				case err == nil && code/100 == 2:
					var j struct {
						ID int64 `json:"id"`
					}
					if json.Unmarshal(body, &j) != nil || j.ID == 0 {
						t.Errorf("key %s: answer %s", key, body)
					}
					acked[key] = j.ID
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					refused++
					mu.Unlock()
					return
				case err != nil:
					cut = append(cut, fmt.Sprintf("%s: %v", key, err))
				default:
					others++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	n := min(int(next.Load()), limit) // keys storm-0 to storm-(n-1) were sent
	keys := make([]string, 0, n+slow)
	for i := 0; i < n; i++ {
		keys = append(keys, fmt.Sprintf("storm-%d", i))
	}
	for k := 0; k < slow; k++ {
		keys = append(keys, fmt.Sprintf("storm-s%d", k))
	}
	if err := <-exited; err != nil {
		t.Errorf("gf serve after SIGTERM: %v (want exit 0)\n%s", err, c.logs())
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "gf.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A request the server took in was answered: every job it stored is
	// acknowledged. (A request cut mid-way, its job stored and its
	// answer lost, shows here even when the client's transport retried
	// it and met a closed listener.)
	stored := storedKeys(t, db)
	unanswered := 0
	for key := range stored {
		if _, ok := acked[key]; !ok {
			unanswered++
			if unanswered < 5 {
				t.Errorf("job %d (key %s) was stored but its submission was not answered: the shutdown cut it", stored[key], key)
			}
		}
	}
	// Errors other than a refused connection: a connection the kernel
	// had queued for the listener, reset when it closed, before the
	// server read the request (such a request stored nothing, above).
	t.Logf("SIGTERM with %d submissions half sent and a storm of 16 clients (%d keys sent): exited %.2f s later; %d of the half-sent answered 2xx; %d acknowledged, %d stored, %d stored but unanswered, %d refused (listener closed), %d reset before the server read them, %d other answers",
		slow, n, exitedAt.Sub(termAt).Seconds(), slowDone, len(acked), len(stored), unanswered, refused, len(cut), others)
	if len(cut) > 0 {
		t.Logf("e.g. %s", cut[0])
	}
	if refused == 0 {
		t.Errorf("no connection refused: the server did not stop before the clients did (the test proves nothing)")
	}
	// Restart; the rest go through with their keys.
	c = startServe(t, "sqlite", dir, "--config", cfg)
	for i, key := range keys {
		if _, ok := acked[key]; ok {
			continue
		}
		code, body, err := c.call(token, "POST", "/api/v1/jobs", chaosJob(i, "300ms"), "Idempotency-Key", key)
		var j struct {
			ID int64 `json:"id"`
		}
		if err != nil || code/100 != 2 || json.Unmarshal(body, &j) != nil || j.ID == 0 {
			t.Fatalf("key %s after the restart: %d %s %v", key, code, body, err)
		}
		acked[key] = j.ID
	}
	waitPlaced(t, db, len(keys))
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("gf serve after the second SIGTERM: %v", err)
	}
	checkStore(t, db, acked, len(keys))
}

// storedKeys reads the storm's jobs from the store: key -> job id.
func storedKeys(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT id, idem_key FROM jobs WHERE idem_key LIKE 'storm-%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		out[key] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLeaderExplainThroughFollower: a job's explanation, which only the
// leader's scheduler has, asked of a follower, is forwarded to the
// leader at its address in the controllers table and answered there
// (200, the explanation); a request forwarded once already is not
// forwarded again (503), so two controllers never pass one back and
// forth.
func TestLeaderExplainThroughFollower(t *testing.T) {
	a, b, token, _ := twoControllers(t)
	code, body, err := b.call(token, "POST", "/api/v1/jobs", chaosJob(0, "1h"), "Idempotency-Key", "storm-0")
	if err != nil || code/100 != 2 {
		t.Fatalf("submit to the follower: %d %s %v", code, body, err)
	}
	var j struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.ID == 0 {
		t.Fatalf("submit answer %s", body)
	}
	path := fmt.Sprintf("/api/v1/jobs/%d/explain", j.ID)
	var ex struct {
		Job struct {
			ID int64 `json:"id"`
		} `json:"job"`
		Known  bool `json:"known"`
		Status *struct {
			State string `json:"state"`
		} `json:"status"`
	}
	// The leader picks the job up from the store within a second.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body, err = b.call(token, "GET", path, "")
		if err == nil && code == 200 && json.Unmarshal(body, &ex) == nil && ex.Known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("explain asked of the follower: %d %s %v\nb:\n%s", code, body, err, b.logs())
		}
	}
	if ex.Job.ID != j.ID || ex.Status == nil {
		t.Fatalf("explanation through the follower: %s", body)
	}
	// Requests are logged by their route's pattern.
	if !strings.Contains(a.logs(), "path=/api/v1/jobs/{id}/explain status=200") {
		t.Errorf("the leader's log shows no explain answered: the follower answered by itself\na:\n%s", a.logs())
	}
	code, body, err = b.call(token, "GET", path, "", "X-Gigafactory-Forwarded", "1")
	if err != nil || code != 503 {
		t.Errorf("explain forwarded once already, asked of the follower: %d %s %v, want 503", code, body, err)
	}
	t.Logf("explain of job %d through the follower: state %q", j.ID, ex.Status.State)
}
