package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	simdrv "github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/sim"
)

// The twin's clock for the live run: gf serve's virtual clock moves in
// whole steps of twinStep, each lasting twinStep/twinSpeed of wall time
// (1 s). Every run lasts whole steps and every job arrives at once, so
// each event happens at a step, as in internal/sim's in-process
// TestTwinMatchesLiveDaemon. A driver poll (every 200 ms) sees a step's
// ends early in the step's second, and the daemon's pass that follows
// starts jobs while the clock still reads that step: a decision lands on
// the step the twin takes it at unless the daemon stalls for most of a
// second. The tolerance on start and end times is therefore zero: any
// difference is a whole step, a different decision, not jitter. (On a
// loaded 2-core machine, load average 17-22, the test passed 3 times of
// 3 at speed 600 and 5 of 5 at 1200, a quarter of a second a step.)
const (
	twinSpeed = 300             // virtual seconds per wall second
	twinStep  = 5 * time.Minute // the virtual clock's step
)

// twinJob is one job of the workload: accelerators and run in minutes.
type twinJob struct {
	accelerators, minutes int
}

// twinWorkload: jobs that all arrive at once and outnumber the network
// (101 accelerators asked of 40), so that the queue, the broker and
// backfill decide; runs of whole steps, well under the broker's
// re-routing slip (2 h); walltimes of an hour.
var twinWorkload = []twinJob{
	{8, 20}, {16, 30}, {4, 10}, {8, 25}, {2, 15}, {16, 10},
	{8, 5}, {1, 30}, {24, 15}, {4, 20}, {8, 10}, {2, 5},
}

// twinPlaced is where a job ran, and when it started and ended (seconds
// after its submission).
type twinPlaced struct {
	Site, Pool   string
	StartS, EndS float64
}

// TestE2ETwinBinaries: the twin runs what gf serve runs, through the real
// binaries. The same workload on the same config file goes through
// `gf serve` (sim drivers on an accelerated virtual clock; the jobs
// submitted over the API in one batch, read back with gf jobs -o json)
// and through `gf simulate --policy live` (the workload as a canonical
// CSV trace, read back from jobs.csv), and every job has the same site,
// the same start and end times, and completed, in both.
func TestE2ETwinBinaries(t *testing.T) {
	bin := gfBinary(t)
	cfg, err := filepath.Abs(filepath.Join("testdata", "twin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The twin: gf simulate over the workload as a trace.
	trace := filepath.Join(dir, "trace.csv")
	var b strings.Builder
	b.WriteString("submit_s,duration_s,accelerators,tenant,org_kind,model,walltime_s\n")
	for _, j := range twinWorkload {
		// The live jobs are the bootstrap's: project, organisation
		// (research) and user default, one tenant.
		fmt.Fprintf(&b, "0,%d,%d,default,research,H100,3600\n", j.minutes*60, j.accelerators)
	}
	if err := os.WriteFile(trace, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sim-out")
	started := time.Now()
	r := (&server{t: t, bin: bin}).gfIn(dir, cleanEnv(), "simulate", "--config", cfg, "--trace", "csv:"+trace, "--policy", "live", "--out", out)
	if r.code != 0 {
		t.Fatalf("gf simulate: %s", r)
	}
	t.Logf("gf simulate took %v", time.Since(started).Round(time.Millisecond))
	twin, twinEnds := readTwinJobs(t, out)

	// The live run: gf serve on the virtual clock from the twin's epoch.
	s := startServerIn(t, dir, "--config", cfg, "--clock-speed", strconv.Itoa(twinSpeed),
		"--clock-epoch", sim.Epoch.Format(time.RFC3339), "--clock-step", twinStep.String())
	waitAfterStep(t, s)
	var specs []core.JobSpec
	for _, j := range twinWorkload {
		specs = append(specs, core.JobSpec{Command: []string{"true"}, Accelerators: core.Milli(j.accelerators * 1000), Model: "H100",
			Walltime: core.Duration(time.Hour), Env: map[string]string{simdrv.EnvDuration: fmt.Sprintf("%dm", j.minutes)}})
	}
	ctx := context.Background()
	submitted := time.Now()
	if _, err := s.client().SubmitBatch(ctx, specs, ""); err != nil {
		t.Fatal(err)
	}
	// The twin's makespan is 12 steps (12 s); a loaded machine may take
	// longer, never this long.
	deadline := time.Now().Add(3 * time.Minute)
	for !allEnded(t, s, len(specs)) {
		if time.Now().After(deadline) {
			t.Fatalf("the live jobs did not all end within 3 minutes:\n%s", s.must("jobs", "--all"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("gf serve ran the workload in %v of wall time", time.Since(submitted).Round(time.Millisecond))
	live := map[core.JobID]twinPlaced{}
	liveEnds := map[core.JobID]string{}
	jobs := s.jobs()
	for _, j := range jobs {
		// One batch, one transaction: one submission time, on a step.
		if !j.SubmitTime.Equal(jobs[0].SubmitTime) || j.SubmitTime.Sub(sim.Epoch)%twinStep != 0 {
			t.Fatalf("live: job %d submitted at %v, job %d at %v: want one time, a whole step after %v", j.ID, j.SubmitTime, jobs[0].ID, jobs[0].SubmitTime, sim.Epoch)
		}
		if j.Alloc == nil || j.StartTime == nil || j.EndTime == nil {
			t.Fatalf("live: job %d ended %s (%s) without starting", j.ID, j.State, j.Reason)
		}
		live[j.ID] = twinPlaced{Site: j.Alloc.Site, Pool: j.Alloc.Pool, StartS: j.StartTime.Sub(j.SubmitTime).Seconds(), EndS: j.EndTime.Sub(j.SubmitTime).Seconds()}
		liveEnds[j.ID] = string(j.State)
	}

	// jobs.csv names no pool: compare sites, then pools where it does.
	livePlaces := map[core.JobID]twinPlaced{}
	for id, p := range live {
		livePlaces[id] = p
		if twin[id].Pool == "" {
			p.Pool = ""
			livePlaces[id] = p
		}
	}
	if diff := cmp.Diff(twin, livePlaces); diff != "" {
		t.Errorf("gf simulate vs gf serve, start and end in seconds after submission (-simulate +serve):\n%s", diff)
	}
	if diff := cmp.Diff(twinEnds, liveEnds); diff != "" {
		t.Errorf("how the jobs ended (-simulate +serve):\n%s", diff)
	}
	used := map[string]bool{}
	for _, p := range live {
		used[p.Site+"/"+p.Pool] = true
	}
	if len(used) < 3 {
		t.Errorf("the workload used only %v: it must exercise the broker across sites and pools", used)
	}
}

// readTwinJobs reads gf simulate's jobs.csv (where each job ran, when it
// started and ended, in seconds after its submission) and summary.json (that every
// job completed; jobs.csv lists ended jobs and says not how).
func readTwinJobs(t *testing.T, out string) (map[core.JobID]twinPlaced, map[core.JobID]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "jobs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 1 {
		t.Fatalf("jobs.csv: %v (%d rows)", err, len(rows))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"id", "submit_s", "start_s", "end_s", "site"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("jobs.csv has no %s column: %v", name, rows[0])
		}
	}
	pool, hasPool := col["pool"]
	if !hasPool {
		t.Log("jobs.csv names no pool: the comparison covers sites, start and end times, not pools")
	}
	twin := map[core.JobID]twinPlaced{}
	ends := map[core.JobID]string{}
	for _, row := range rows[1:] {
		id, err1 := strconv.ParseInt(row[col["id"]], 10, 64)
		submit, err2 := strconv.ParseFloat(row[col["submit_s"]], 64)
		start, err3 := strconv.ParseFloat(row[col["start_s"]], 64)
		end, err4 := strconv.ParseFloat(row[col["end_s"]], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			t.Fatalf("jobs.csv row %v: %v %v %v %v", row, err1, err2, err3, err4)
		}
		p := twinPlaced{Site: row[col["site"]], StartS: start - submit, EndS: end - submit}
		if hasPool {
			p.Pool = row[pool]
		}
		twin[core.JobID(id)] = p
	}
	var sum struct {
		Policies []struct {
			Policy                      string `json:"policy"`
			Completed, Failed, TimedOut int
		} `json:"policies"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if len(sum.Policies) != 1 || sum.Policies[0].Completed != len(twinWorkload) || len(twin) != len(twinWorkload) {
		t.Fatalf("gf simulate: want all %d jobs completed, got %d rows in jobs.csv and %s", len(twinWorkload), len(twin), raw)
	}
	for id := range twin {
		ends[id] = string(core.StateCompleted)
	}
	return twin, ends
}

var wallStartRE = regexp.MustCompile(`msg="virtual clock".* wall_start=(\S+)`)

// waitAfterStep returns just after gf serve's virtual clock has moved on
// a step (it logs the wall time it started at), so that the jobs
// submitted next are submitted and placed well within one step.
func waitAfterStep(t *testing.T, s *server) {
	t.Helper()
	m := wallStartRE.FindStringSubmatch(s.log.String())
	if m == nil {
		t.Fatalf("gf serve did not log its virtual clock:\n%s", s.log.String())
	}
	start, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("gf serve's virtual clock: wall_start %q: %v", m[1], err)
	}
	period := twinStep / twinSpeed
	steps := time.Since(start)/period + 1
	time.Sleep(time.Until(start.Add(steps*period + period/20)))
}

// allEnded reports whether the server holds n jobs, all ended.
func allEnded(t *testing.T, s *server, n int) bool {
	t.Helper()
	seen := 0
	for j, err := range s.client().Jobs(context.Background(), client.JobFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !j.State.Terminal() {
			return false
		}
		seen++
	}
	return seen == n
}
