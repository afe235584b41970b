package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/trace"
)

const (
	phillyGz = "../trace/testdata/philly.csv.gz"
	openbGPU = "../trace/testdata/openb_node_list_gpu_node.csv.gz"
	openbPod = "../trace/testdata/openb_pod_list_default.csv.gz"
)

// phillyAll loads the whole Philly trace (strict: it has no bad rows) in
// submit order.
func phillyAll(tb testing.TB) []Arrival {
	tb.Helper()
	src, err := trace.OpenPhilly(phillyGz, trace.Options{Strict: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	all, err := LoadTrace(src, DefaultClasses)
	if err != nil {
		tb.Fatal(err)
	}
	return all
}

// phillyHead is the first n Philly jobs, so tests replay real jobs
// quickly.
func phillyHead(t *testing.T, n int) []Arrival { return phillyAll(t)[:n] }

func smallCluster(nodes int) []core.Site {
	s := PhillyCluster()
	s[0].Pools[0].Nodes = nodes
	s[0].Accelerators = nodes * 8
	return s
}

func TestReplayInvariants(t *testing.T) {
	jobs := phillyHead(t, 1200)
	for _, pol := range []string{PolicyFIFO, PolicyBackfill, PolicyGigafactory} {
		t.Run(pol, func(t *testing.T) {
			var csv bytes.Buffer
			res, err := Replay(ReplayConfig{Policy: pol, Sites: smallCluster(25), Jobs: NewSliceStream(jobs), JobsOut: &csv, OrgKind: map[string]string{}, Tick: time.Second, Mix: MixOfArrivals(jobs, 8)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Jobs != 1200 || res.Completed+res.Unfinished != 1200 {
				t.Fatalf("jobs %d completed %d unfinished %d", res.Jobs, res.Completed, res.Unfinished)
			}
			if res.Utilisation <= 0 || res.Utilisation > 1 {
				t.Errorf("utilisation %v out of (0,1]", res.Utilisation)
			}
			for site, u := range res.UtilisationBySite {
				if u > 1+1e-9 {
					t.Errorf("site %s over-allocated: %v", site, u)
				}
			}
			// Every row: start >= submit, end - start = the recorded duration.
			lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
			if len(lines) != res.Completed {
				t.Fatalf("jobs.csv rows %d, completed %d", len(lines), res.Completed)
			}
			for _, l := range lines {
				f := strings.Split(l, ",")
				var sub, start, end float64
				for i, p := range []*float64{&sub, &start, &end} {
					if err := json.Unmarshal([]byte(f[3+i]), p); err != nil {
						t.Fatalf("row %q: %v", l, err)
					}
				}
				if start < sub || end < start || f[6] != "philly" || f[7] != "US" {
					t.Fatalf("bad row %q", l)
				}
			}
			for _, r := range res.series {
				if r.Utilisation > 1+1e-9 {
					t.Fatalf("sample over capacity: %+v", r)
				}
			}
			if res.Wait.P99 <= 0 {
				t.Errorf("no job waited on 200 GPUs: the test lost its queue")
			}
			var dev float64
			for _, c := range res.ByClass {
				dev += c.FairShareDeviation * c.FairShareDeviation
				if c.FairShareDeviation < -1 || c.FairShareDeviation > 1 {
					t.Errorf("fair-share deviation out of [-1,1]: %+v", c)
				}
			}
			if dev == 0 {
				t.Errorf("queues formed but no class deviated from its demand share")
			}
			if res.Wait.P50 > res.Wait.P90 || res.Wait.P90 > res.Wait.P99 || res.JCT.Mean < res.Wait.Mean {
				t.Errorf("inconsistent distributions: wait %+v jct %+v", res.Wait, res.JCT)
			}
		})
	}
}

func TestOutageFailsRunningJobs(t *testing.T) {
	jobs := phillyHead(t, 500)
	sites := append(smallCluster(20), smallCluster(20)...)
	sites[1].ID, sites[1].Country = "philly-2", "DE"
	res, err := Replay(ReplayConfig{Policy: PolicyFIFO, Sites: sites, Jobs: NewSliceStream(jobs),
		Outages: []Outage{{Site: "philly", At: 2 * time.Hour, For: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.LostRuns == 0 || res.Failed != res.LostRuns {
		t.Fatalf("lost %d failed %d: an outage must end the runs there", res.LostRuns, res.Failed)
	}
	if _, err := Replay(ReplayConfig{Policy: PolicyFIFO, Sites: sites, Jobs: NewSliceStream(jobs), Outages: []Outage{{Site: "nowhere"}}}); err == nil {
		t.Fatal("unknown outage site accepted")
	}
}

// With the broker in front, as live, the jobs of a site that goes down are
// requeued and routed to the other site: none fails, each lost run comes
// back, and every job still ends.
func TestOutageWithBrokerRequeuesElsewhere(t *testing.T) {
	// Real Philly jobs, arriving one every 7 s so that many run at once.
	jobs := phillyHead(t, 500)
	for i := range jobs {
		jobs[i].Submit = time.Duration(i) * 7 * time.Second
	}
	sites := append(smallCluster(20), smallCluster(20)...)
	sites[1].ID, sites[1].Country = "philly-2", "DE"
	var csv bytes.Buffer
	res, err := Replay(ReplayConfig{Policy: PolicyFIFO, Sites: sites, Jobs: NewSliceStream(jobs), Broker: true, JobsOut: &csv,
		Outages: []Outage{{Site: "philly-2", At: 30 * time.Minute, For: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.LostRuns < 10 {
		t.Fatalf("%d runs cut by the outage: the test lost its point", res.LostRuns)
	}
	if res.Failed != 0 || res.Completed+res.TimedOut != res.Jobs || res.Unfinished != 0 {
		t.Fatalf("jobs %d completed %d failed %d unfinished %d: requeued jobs must run again", res.Jobs, res.Completed, res.Failed, res.Unfinished)
	}
	// Nothing starts on the site while it is down; jobs submitted before
	// the outage that started after it ran on the other site.
	down0, down1 := (30 * time.Minute).Seconds(), (24*time.Hour + 30*time.Minute).Seconds()
	moved := 0
	for _, l := range strings.Split(strings.TrimSpace(csv.String()), "\n") {
		f := strings.Split(l, ",")
		var sub, start float64
		if err := json.Unmarshal([]byte(f[3]), &sub); err != nil {
			t.Fatalf("row %q: %v", l, err)
		}
		if err := json.Unmarshal([]byte(f[4]), &start); err != nil {
			t.Fatalf("row %q: %v", l, err)
		}
		if start >= down0 && start < down1 && f[6] != "philly" {
			t.Fatalf("row %q: started on %s while it was down", l, f[6])
		}
		if sub < down0 && start >= down0 && f[6] == "philly" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no job submitted before the outage ran on the other site after it")
	}
}

// The same seed gives a byte-identical summary.json; wall-clock figures go
// to timing.json.
func TestSameSeedSameSummary(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "head.csv")
	var b strings.Builder
	b.WriteString("submit_s,duration_s,accelerators,tenant\n")
	for _, a := range phillyHead(t, 400) {
		b.WriteString(strings.Join([]string{ftoa(a.Submit.Seconds()), ftoa(a.Duration.Seconds()), a.Milli.String(), a.Tenant}, ","))
		b.WriteString("\n")
	}
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(out string, seed uint64) []byte {
		_, err := Run(Options{
			Trace: "csv:" + csvPath, Network: "test", Sites: smallCluster(30), Seeds: []uint64{seed},
			Multiplier: 3, Span: 3 * 24 * time.Hour, MoonshotsPerDay: 0.5, Out: out, Deterministic: true,
			Clock: time.Now, Policies: []string{PolicyFIFO, PolicyGigafactory},
		})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(out, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	a, b2, c := run(filepath.Join(dir, "a"), 7), run(filepath.Join(dir, "b"), 7), run(filepath.Join(dir, "c"), 8)
	if !bytes.Equal(a, b2) {
		t.Fatal("same seed, different summary.json")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same summary.json: the seed is not used")
	}
	var s Summary
	if err := json.Unmarshal(a, &s); err != nil {
		t.Fatal(err)
	}
	if s.Jobs == 0 || s.WallSeconds != 0 || len(s.Policies) != 2 {
		t.Fatalf("summary: jobs %d wall %v policies %d", s.Jobs, s.WallSeconds, len(s.Policies))
	}
	for _, f := range []string{"jobs.csv", "jobs-gigafactory.csv", "timeseries.csv", "report.html", "timing.json"} {
		st, err := os.Stat(filepath.Join(dir, "a", f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty", f)
		}
	}
	h, _ := os.ReadFile(filepath.Join(dir, "a", "report.html"))
	if !bytes.Contains(h, []byte("<svg")) || bytes.Contains(h, []byte("http://cdn")) || bytes.Contains(h, []byte("<script")) {
		t.Error("report.html must be self-contained SVG")
	}
	head, _ := os.ReadFile(filepath.Join(dir, "a", "jobs.csv"))
	if !bytes.HasPrefix(head, []byte(JobsHeader)) {
		t.Errorf("jobs.csv header: %q", head[:60])
	}
}

func ftoa(f float64) string { b, _ := json.Marshal(f); return string(b) }

// drain reads a stream to its end.
func drain(t *testing.T, s Stream) []Arrival {
	t.Helper()
	var out []Arrival
	for {
		a, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
}

func TestSynth(t *testing.T) {
	base := phillyHead(t, 5000)
	mk := func(seed uint64) []Arrival {
		s, err := NewSynth(SynthConfig{Base: base, Multiplier: 4, Span: 10 * 24 * time.Hour, Seed: seed, Classes: DefaultClasses, MoonshotsPerDay: 2})
		if err != nil {
			t.Fatal(err)
		}
		return drain(t, s)
	}
	a, b := mk(1), mk(1)
	if len(a) != len(b) || a[len(a)/2].Submit != b[len(b)/2].Submit {
		t.Fatal("same seed, different streams")
	}
	var moon int
	var prev time.Duration
	var plain []Arrival
	for _, j := range a {
		if j.Submit < prev || j.Submit > 10*24*time.Hour {
			t.Fatalf("arrival at %v out of order or past the span", j.Submit)
		}
		prev = j.Submit
		if j.Moonshot {
			moon++
			if j.Milli < 4096000 || j.Milli > 65536000 || j.Duration < 24*time.Hour || j.Duration > 7*24*time.Hour {
				t.Errorf("moonshot out of range: %v accelerators for %v", j.Milli, j.Duration)
			}
			continue
		}
		plain = append(plain, j)
	}
	if moon < 8 || moon > 40 {
		t.Errorf("moonshots in 10 days at 2/day = %d", moon)
	}
	// Rate: 4x the base trace's mean rate over its span.
	span := (base[len(base)-1].Submit - base[0].Submit).Seconds()
	want := 4 * float64(len(base)) / span * 10 * 86400
	if got := float64(len(plain)); got < 0.9*want || got > 1.1*want {
		t.Errorf("jobs = %.0f, want about %.0f", got, want)
	}
	// The mix is the base's: mean accelerators within 10%.
	bs, ss := StatsOf(base), StatsOf(plain)
	if ss.MeanAccel < 0.9*bs.MeanAccel || ss.MeanAccel > 1.1*bs.MeanAccel {
		t.Errorf("mean accelerators %v, base %v", ss.MeanAccel, bs.MeanAccel)
	}
}

func TestPlacementOpenb(t *testing.T) {
	out := t.TempDir()
	sum, err := Run(Options{Mode: "placement", Trace: "openb:" + openbGPU + "," + openbPod, Demand: 1.3,
		Seeds: []uint64{42}, Policies: []string{PlaceBestFit, PlaceGigafactory}, Out: out, Deterministic: true})
	if err != nil {
		t.Fatal(err)
	}
	res := sum.Placement
	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"jobs", "wall_seconds", "allocation_ratio", "placement"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("summary.json lacks %q", k)
		}
	}
	if ar, _ := keys["allocation_ratio"].(float64); ar != round6(res[1].AllocationRatio) {
		t.Errorf("top-level allocation_ratio %v, gigafactory's %v", keys["allocation_ratio"], res[1].AllocationRatio)
	}
	bf, gf := res[0].Seeds[0], res[1].Seeds[0]
	if bf.Pods != gf.Pods || bf.RequestedRatio < 1.29 || bf.RequestedRatio > 1.3 {
		t.Fatalf("workloads differ or wrong demand: %+v %+v", bf, gf)
	}
	if bf.Placed+bf.Refused != bf.Pods || bf.AllocationRatio > 1 || gf.AllocationRatio > 1 {
		t.Fatalf("bad accounting: %+v %+v", bf, gf)
	}
	// Seed 42 (see docs/PERFORMANCE.md for all ten): best fit 94.1%, ours 95.6%.
	if bf.AllocationRatio < 0.93 || gf.AllocationRatio < bf.AllocationRatio+0.005 {
		t.Errorf("allocation: bestfit %.4f, gigafactory %.4f; want ours at least 0.5 points ahead", bf.AllocationRatio, gf.AllocationRatio)
	}
}

func TestLoadScenario(t *testing.T) {
	s, err := LoadScenario("testdata/outage.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.HorizonS != 2592000 || len(s.Outages) != 1 || s.Outages[0].At != 24*time.Hour || s.Outages[0].For != 12*time.Hour {
		t.Fatalf("scenario = %+v", s)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("outages:\n  - site: x\n    at: 5\n"), 0o644)
	if _, err := LoadScenario(bad); err == nil || !strings.Contains(err.Error(), "at") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

// The Philly job table against the published Philly statistics: the same
// median size and the same order of run times, but half the GPU time
// (failed and cancelled attempts are not in the table).
func TestCalibrationPhilly(t *testing.T) {
	pub, err := PublishedStats("Philly")
	if err != nil {
		t.Fatal(err)
	}
	if pub.MeanQueueS != 3760.604 || pub.MedianQueueS != 189 || pub.GPUJobs != 112956 {
		t.Fatalf("published Philly = %+v", pub)
	}
	jobs := phillyAll(t)
	st := StatsOf(jobs)
	if st.MedianDurationS < 0.5*pub.MedianRunS || st.MedianDurationS > 2*pub.MedianRunS {
		t.Errorf("median run %v s, published %v s", st.MedianDurationS, pub.MedianRunS)
	}
	if r := st.AccelSeconds / pub.CompletedGPUSec; r < 0.4 || r > 0.6 {
		t.Errorf("GPU-seconds %.3g = %.2f of the published %.3g", st.AccelSeconds, r, pub.CompletedGPUSec)
	}
	if _, err := PublishedStats("Venus"); err != nil {
		t.Error(err)
	}
	if _, err := PublishedStats("nowhere"); err == nil {
		t.Error("unknown cluster accepted")
	}
}

// TestSynthLiteDrawsEqualFull: drawing a plain base job from its 12-byte
// form gives the same arrival as copying the full record; jobs with a
// model, walltime, residency or preemptible flag come from the full one.
func TestSynthLiteDrawsEqualFull(t *testing.T) {
	base := phillyHead(t, 3000)
	for i := range base {
		switch i % 7 {
		case 1:
			base[i].Model = "V100"
		case 2:
			base[i].Residency = []string{"DE", "FR"}
		case 3:
			base[i].Walltime = 2 * time.Hour
		case 4:
			base[i].Preemptible = true
		}
	}
	draw := func(full bool) []Arrival {
		s, err := NewSynth(SynthConfig{Base: base, Multiplier: 8, Span: 3 * 24 * time.Hour, Seed: 5, Classes: DefaultClasses, MoonshotsPerDay: 1})
		if err != nil {
			t.Fatal(err)
		}
		plain := 0
		for _, l := range s.lite {
			if l.tenant&litePlain != 0 {
				plain++
			}
		}
		if plain < len(s.lite)/4 {
			t.Fatalf("only %d of %d base jobs drawn from the compact form: the test lost its point", plain, len(s.lite))
		}
		if full {
			for i := range s.lite {
				s.lite[i].tenant &^= litePlain
			}
		}
		return drain(t, s)
	}
	lite, full := draw(false), draw(true)
	if len(lite) < 1000 {
		t.Fatalf("only %d arrivals", len(lite))
	}
	if diff := cmp.Diff(full, lite); diff != "" {
		t.Fatalf("compact draws differ from full ones (-full +lite):\n%s", diff)
	}
}

// TestKeptAndReusedRunsAgree checks that a replay that reuses each run's
// record at its start (no jobs.csv, no outages, no preemption, no broker)
// gives the same results as one that keeps the records to the end.
func TestKeptAndReusedRunsAgree(t *testing.T) {
	jobs := phillyHead(t, 3000)
	for _, pol := range []string{PolicyFIFO, PolicyBackfill} {
		var got []*PolicyResult
		for _, out := range []io.Writer{nil, io.Discard} {
			res, err := Replay(ReplayConfig{Policy: pol, Sites: smallCluster(25), Jobs: NewSliceStream(jobs), JobsOut: out,
				OrgKind: map[string]string{}, Tick: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, res)
		}
		if got[0].Completed < 1000 {
			t.Fatalf("%s: only %d jobs completed: the test lost its point", pol, got[0].Completed)
		}
		if diff := cmp.Diff(got[1], got[0], cmp.AllowUnexported(PolicyResult{}, ClassResult{}, samples{}, histogram{})); diff != "" {
			t.Errorf("%s: kept (-) and reused (+) runs differ:\n%s", pol, diff)
		}
	}
}

// The default policy, live, handles an outage as the live daemon does:
// the federation requeues the downed site's jobs, preemptible or not, and
// none fails.
func TestLiveOutageRequeues(t *testing.T) {
	jobs := phillyHead(t, 300)
	for i := range jobs {
		jobs[i].Submit = time.Duration(i) * 7 * time.Second
		jobs[i].Preemptible = false
	}
	sites := append(smallCluster(20), smallCluster(20)...)
	sites[1].ID, sites[1].Country = "philly-2", "DE"
	res, err := Replay(ReplayConfig{Policy: PolicyLive, Sites: sites, Jobs: NewSliceStream(jobs),
		Outages: []Outage{{Site: "philly-2", At: 30 * time.Minute, For: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.LostRuns == 0 {
		t.Fatal("no run was cut by the outage: the test lost its point")
	}
	if res.Failed != 0 || res.Unfinished != 0 {
		t.Fatalf("lost %d, failed %d, unfinished %d: live requeues a downed site's jobs", res.LostRuns, res.Failed, res.Unfinished)
	}
}

// Fast (the engine's replay-only opt-ins) changes no figure.
func TestFastChangesNothing(t *testing.T) {
	jobs := phillyHead(t, 400)
	for _, pol := range []string{PolicyFIFO, PolicyLean, PolicyLive} {
		t.Run(pol, func(t *testing.T) {
			var got [2]string
			for i, fast := range []bool{false, true} {
				res, err := Replay(ReplayConfig{Policy: pol, Sites: smallCluster(10), Jobs: NewSliceStream(jobs), Tick: time.Second, Fast: fast})
				if err != nil {
					t.Fatal(err)
				}
				b, err := json.MarshalIndent(res, "", " ")
				if err != nil {
					t.Fatal(err)
				}
				got[i] = string(b) + fmt.Sprint(res.series)
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Errorf("Fast changed the figures (-plain +fast):\n%s", diff)
			}
		})
	}
}

// summary.json records each policy's configuration: live has the broker
// and serve's routing, lean the same engine without it.
func TestPolicyConfigRecorded(t *testing.T) {
	tests := map[string]struct {
		policy string
		want   []string
		not    []string
	}{
		"live":        {PolicyLive, []string{`"broker":true`, `"MaxSlip":7200000000000`, `"SiteWalltimes":true`, `"BackfillDepth":16`}, nil},
		"lean":        {PolicyLean, []string{`"broker":false`, `"SiteWalltimes":true`}, []string{`"routing"`}},
		"fifo":        {PolicyFIFO, []string{`"broker":false`, `"BackfillDepth":0`}, nil},
		"gigafactory": {PolicyGigafactory, []string{`"fragmentation_mix_entries":`}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := Replay(ReplayConfig{Policy: tc.policy, Sites: smallCluster(2), Jobs: NewSliceStream(phillyHead(t, 5))})
			if err != nil {
				t.Fatal(err)
			}
			s := string(res.Config)
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("config %s lacks %s", s, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(s, w) {
					t.Errorf("config %s has %s", s, w)
				}
			}
			if !strings.HasPrefix(s, `{"broker":`) {
				t.Errorf("config keys not sorted: %s", s)
			}
		})
	}
	if _, err := Replay(ReplayConfig{Policy: "nonsense", Sites: smallCluster(2), Jobs: NewSliceStream(nil)}); err == nil || !strings.Contains(err.Error(), "live") {
		t.Errorf("unknown policy: %v, want an error naming the policies", err)
	}
}
