package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Helpers of the controllers' chaos tests (e2e_leader_test.go,
// e2e_chaos_test.go): real gf serve processes, a storm of keyed
// submissions, and the store's invariants checked after the storm.
// chaosConfig is one simulated site of 16 nodes of 4 accelerators.
const chaosConfig = `sites:
  - id: sim
    kind: factory
    country: DE
    driver: sim
    pools:
      - {name: gpu, model: H100, accelerators_per_node: 4, nodes: 16}
`

// controller is one gf serve of several.
type controller struct {
	id, dir string
	cmd     *exec.Cmd
	url     string
	log     *bytes.Buffer
	mu      sync.Mutex
}

func startController(t *testing.T, dsn, cfg, id, dir string) *controller {
	t.Helper()
	return startServe(t, id, dir, "--store", dsn, "--config", cfg, "--controller-id", id)
}

// startServe starts gf serve on dir (on a free loopback port, without a
// rate limit) with the further arguments args, and waits until it is
// ready; id names it in the test's messages. A test's cleanup kills it if
// it still runs.
func startServe(t *testing.T, id, dir string, args ...string) *controller {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "gf.addr"))
	cmd := exec.Command(gfBinary(t), append([]string{"--data", dir, "serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"}, args...)...)
	c := &controller{id: id, dir: dir, cmd: cmd, log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{c}, &lockedWriter{c}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "gf.addr")); err == nil && len(b) > 0 {
			c.url = strings.TrimSpace(string(b))
			if resp, err := http.Get(c.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return c
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller %s did not become ready:\n%s", id, c.logs())
		}
	}
}

type lockedWriter struct{ c *controller }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.log.Write(p)
}

func (c *controller) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

var chaosHTTP = &http.Client{Timeout: 10 * time.Second}

func (c *controller) call(token, method, path, body string, hdr ...string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := chaosHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}

// leaderSeen asks c which controller leads ("" when none does).
func (c *controller) leaderSeen(token string) string {
	code, body, err := c.call(token, "GET", "/api/v1/controllers", "")
	if err != nil || code != 200 {
		return ""
	}
	var ans struct {
		Items []struct {
			ID     string `json:"id"`
			Leader bool   `json:"leader"`
		} `json:"items"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return ""
	}
	for _, it := range ans.Items {
		if it.Leader {
			return it.ID
		}
	}
	return ""
}

// twoControllers starts a and b on one fresh schema and returns them, the
// admin token, the schema's connection and the leader (a: it started
// first).
func twoControllers(t *testing.T) (a, b *controller, token string, db *sql.DB) {
	t.Helper()
	dsn, db := leaderPostgres(t)
	a, b, token = twoControllersOn(t, dsn)
	return a, b, token, db
}

// twoControllersOn starts a and b on the store dsn and returns them and
// the administrator token; a leads (it started first).
func twoControllersOn(t *testing.T, dsn string) (a, b *controller, token string) {
	t.Helper()
	root := t.TempDir()
	cfg := writeChaosConfig(t, root)
	a = startController(t, dsn, cfg, "a", filepath.Join(root, "a"))
	token = adminToken(t, a.dir)
	// The network's audit key and administrator token are one: b gets
	// copies (without admin.token, a controller writes a new one and
	// revokes the old).
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"audit.key", "admin.token"} {
		data, err := os.ReadFile(filepath.Join(a.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "b", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b = startController(t, dsn, cfg, "b", filepath.Join(root, "b"))
	if l := b.leaderSeen(token); l != "a" {
		code, body, err := b.call(token, "GET", "/api/v1/controllers", "")
		t.Fatalf("b sees %q leading, want a (%d %s %v)\na:\n%s\nb:\n%s", l, code, body, err, a.logs(), b.logs())
	}
	return a, b, token
}

// writeChaosConfig writes chaosConfig to dir/gf.yaml and returns its path.
func writeChaosConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "gf.yaml")
	if err := os.WriteFile(cfg, []byte(chaosConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adminToken is the administrator token a gf serve wrote to its data
// directory.
func adminToken(t *testing.T, data string) string {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(tok))
}

// waitLeader polls c until it reports want leading, and returns when.
func waitLeader(t *testing.T, c *controller, token, want string) time.Time {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c.leaderSeen(token) == want {
			return time.Now()
		}
	}
	t.Fatalf("%s did not report %s leading within 30 s:\n%s", c.id, want, c.logs())
	return time.Time{}
}

// chaosJob is a simulated run of 1 to 4 accelerators.
func chaosJob(i int, dur string) string {
	return fmt.Sprintf(`{"command":["true"],"accelerators":%d,"walltime":"1h","env":{"GF_SIM_DURATION":"%s"}}`, 1+i%4, dur)
}

// storm submits n jobs with idempotency keys across the controllers,
// workers at a time; a request that fails (its controller dead, paused or
// not answering) is retried on the next controller with the same key, as a
// client would. during runs once, when third of them are sent. It returns
// the acknowledged job id of each key.
func storm(t *testing.T, cs []*controller, token string, n int, dur string, during func()) map[string]int64 {
	t.Helper()
	return stormCounted(t, cs, token, n, dur, during).acked
}

// stormStats is what a storm's clients saw.
type stormStats struct {
	acked map[string]int64 // key -> acknowledged job id
	// answers counts the answers other than 2xx by status, and the
	// requests that got none by "error".
	answers map[string]int
	retries int // tries that got no acknowledgement (each retried, up to 40 a key)
}

// stormCounted is storm, also counting what the clients saw besides
// acknowledgements.
func stormCounted(t *testing.T, cs []*controller, token string, n int, dur string, during func()) stormStats {
	t.Helper()
	answers := map[string]int{}
	retries := 0
	const workers = 16
	var (
		mu    sync.Mutex
		acked = map[string]int64{}
		sent  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
	)
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range next {
				if sent.Add(1) == int64(n/3) && during != nil {
					once.Do(func() { go during() })
				}
				key := fmt.Sprintf("storm-%d", i)
				for try := 0; try < 40; try++ {
					c := cs[(i+try)%len(cs)]
					code, body, err := c.call(token, "POST", "/api/v1/jobs", chaosJob(i, dur), "Idempotency-Key", key)
					if err == nil && code/100 == 2 {
						var j struct {
							ID int64 `json:"id"`
						}
						if err := json.Unmarshal(body, &j); err != nil || j.ID == 0 {
							t.Errorf("key %s: answer %s", key, body)
							break
						}
						mu.Lock()
						acked[key] = j.ID
						mu.Unlock()
						break
					}
					mu.Lock()
					if err != nil {
						answers["error"]++
					} else {
						answers[strconv.Itoa(code)]++
					}
					retries++
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
			}
		}(w)
	}
	wg.Wait()
	return stormStats{acked: acked, answers: answers, retries: retries}
}

// placement is one attempt's hold on accelerators, from its placed event
// to the event that ended the attempt (requeued or ended; open while it
// runs).
type placement struct {
	job        int64
	at, until  int64 // microseconds
	node       string
	accels     []int
	controller string
	epoch      int64
}

var (
	placedNode = regexp.MustCompile(`(\S+)\[([0-9 ]*)\]`)
	placedBy   = regexp.MustCompile(`by controller (\S+), epoch (\d+)`)
)

// placements reads every attempt's allocation from the store's events.
func placements(t *testing.T, db *sql.DB) []placement {
	t.Helper()
	rows, err := db.Query(`SELECT job_id, time, type, message FROM job_events WHERE type IN ('placed', 'requeued', 'ended', 'cancelled') ORDER BY job_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []placement
	open := map[int64]int{} // job -> index in out of its open placement
	for rows.Next() {
		var job, at int64
		var typ, msg string
		if err := rows.Scan(&job, &at, &typ, &msg); err != nil {
			t.Fatal(err)
		}
		if typ != "placed" {
			if i, ok := open[job]; ok {
				out[i].until = at
				delete(open, job)
			}
			continue
		}
		p := placement{job: job, at: at, until: 1<<62 - 1}
		m := placedNode.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("job %d: placement %q names no node", job, msg)
		}
		p.node = m[1]
		for _, f := range strings.Fields(m[2]) {
			v, _ := strconv.Atoi(f)
			p.accels = append(p.accels, v)
		}
		if b := placedBy.FindStringSubmatch(msg); b != nil {
			p.controller = b[1]
			p.epoch, _ = strconv.ParseInt(b[2], 10, 64)
		}
		open[job] = len(out)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkStore asserts the three invariants: every acknowledged job is in
// the store under its key, no key made two jobs, and no accelerator was
// held by two placements at once.
func checkStore(t *testing.T, db *sql.DB, acked map[string]int64, n int) []placement {
	t.Helper()
	if len(acked) != n {
		t.Errorf("%d of %d submissions acknowledged after retries", len(acked), n)
	}
	byKey := map[string]int64{}
	rows, err := db.Query(`SELECT id, idem_key FROM jobs WHERE idem_key LIKE 'storm-%'`)
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		if _, seen := byKey[key]; seen {
			dups++
		}
		byKey[key] = id
	}
	rows.Close()
	lost := 0
	for key, id := range acked {
		if byKey[key] != id {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged job %d (key %s) is not in the store under its key (found %d)", id, key, byKey[key])
			}
		}
	}
	if lost > 0 || dups > 0 {
		t.Errorf("%d acknowledged jobs lost, %d duplicated keys", lost, dups)
	}
	ps := placements(t, db)
	overlaps := 0
	byNode := map[string][]placement{}
	for _, p := range ps {
		byNode[p.node] = append(byNode[p.node], p)
	}
	for node, list := range byNode {
		for i := range list {
			for j := i + 1; j < len(list); j++ {
				a, b := list[i], list[j]
				if a.job == b.job || a.at >= b.until || b.at >= a.until {
					continue
				}
				for _, x := range a.accels {
					for _, y := range b.accels {
						if x == y {
							overlaps++
							if overlaps < 5 {
								t.Errorf("node %s accelerator %d given to jobs %d (%s %d) and %d (%s %d) at once", node, x, a.job, a.controller, a.epoch, b.job, b.controller, b.epoch)
							}
						}
					}
				}
			}
		}
	}
	if overlaps > 0 {
		t.Errorf("%d accelerators given to two jobs at once", overlaps)
	}
	by := map[string]int{}
	for _, p := range ps {
		by[fmt.Sprintf("%s/%d", p.controller, p.epoch)]++
	}
	t.Logf("%d acknowledged, %d jobs in the store, %d placements checked pairwise on %d nodes, by controller/epoch %v", len(acked), len(byKey), len(ps), len(byNode), by)
	return ps
}

// leaseEpoch reads the lease's epoch and when it was taken (µs).
func leaseEpoch(t *testing.T, db *sql.DB) (string, int64, int64) {
	t.Helper()
	var holder string
	var epoch, at int64
	if err := db.QueryRow(`SELECT holder, epoch, acquired_at FROM leader_lease WHERE id = 1`).Scan(&holder, &epoch, &at); err != nil {
		t.Fatal(err)
	}
	return holder, epoch, at
}

// waitPlaced waits (at most 60 s) until no storm job is pending.
func waitPlaced(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	var pending int
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND idem_key LIKE 'storm-%'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
	}
	t.Logf("%d storm jobs still pending after 60 s", pending)
}
