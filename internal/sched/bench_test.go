package sched_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// hist is a discrete distribution read from testdata/philly.txt.
type hist struct {
	vals []int64
	cum  []int64
}

func (h *hist) add(v, n int64) {
	h.vals = append(h.vals, v)
	c := n
	if len(h.cum) > 0 {
		c += h.cum[len(h.cum)-1]
	}
	h.cum = append(h.cum, c)
}

func (h *hist) draw(r *rand.Rand) int64 {
	x := r.Int64N(h.cum[len(h.cum)-1])
	i, _ := slices.BinarySearch(h.cum, x+1)
	return h.vals[i]
}

func philly(tb testing.TB) (sizes, durations hist) {
	f, err := os.Open("testdata/philly.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kind string
		var v, n int64
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		if _, err := fmt.Sscan(sc.Text(), &kind, &v, &n); err != nil {
			tb.Fatalf("philly.txt: %q: %v", sc.Text(), err)
		}
		switch kind {
		case "size":
			sizes.add(v, n)
		case "duration":
			durations.add(v, n)
		}
	}
	return sizes, durations
}

// euSites is the EU reference network of internal/config: 19 AI
// factories and 5 gigafactories, about 585,000 accelerators.
func euSites(tb testing.TB) []core.Site {
	c := config.EU()
	total := 0
	for _, s := range c.Sites {
		total += s.Totals()
	}
	if total < 500_000 {
		tb.Fatalf("EU network has %d accelerators, want about 600,000", total)
	}
	return c.Sites
}

// backlog draws n jobs with Philly's sizes and walltimes, from 50
// organisations of four kinds, plus moonshots of 4,096 to 65,536
// accelerators every 5,000 jobs.
func backlog(tb testing.TB, n int, seed uint64, firstID core.JobID, at time.Time) []core.Job {
	sizes, durs := philly(tb)
	r := rand.New(rand.NewPCG(seed, 1))
	moon := []int{4096, 8192, 16384, 32768, 65536}
	jobs := make([]core.Job, 0, n)
	for i := range n {
		id := firstID + core.JobID(i)
		org := r.IntN(50)
		j := core.Job{ID: id, Org: fmt.Sprintf("org%02d", org), Project: fmt.Sprintf("org%02d-p%d", org, r.IntN(4)),
			User: fmt.Sprintf("u%d", r.IntN(8)), State: core.StatePending, SubmitTime: at.Add(-time.Duration(r.IntN(3600)) * time.Second),
			Spec: core.JobSpec{Accelerators: core.Milli(sizes.draw(r)) * 1000, Walltime: core.Duration(time.Duration(durs.draw(r)) * time.Second)}}
		if i%5000 == 4999 {
			j.Spec.Accelerators = core.Milli(moon[(i/5000)%len(moon)]) * 1000
			j.Spec.QoS = core.QoSMoonshot
			j.Spec.Walltime = core.Duration(48 * time.Hour)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func orgKinds() map[string]string {
	kinds := []string{core.OrgResearch, core.OrgSME, core.OrgStartup, core.OrgIndustry, core.OrgPublic}
	m := map[string]string{}
	for i := range 50 {
		m[fmt.Sprintf("org%02d", i)] = kinds[i%len(kinds)]
	}
	return m
}

func benchConfig() engine.Config {
	c := engine.DefaultConfig()
	c.FairShare.OrgKind = orgKinds()
	return c
}

// BenchmarkFullPass places a backlog of 100,000 Philly-sized jobs and a
// tail of moonshots onto the empty EU network in one Step: ordering,
// placement, reservations for the blocked and estimated starts included.
func BenchmarkFullPass(b *testing.B) {
	sites := euSites(b)
	jobs := backlog(b, 100_000, 1, 1, t0)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	placed := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		e := engine.New(benchConfig(), sites)
		for _, j := range jobs {
			e.Apply(engine.Submitted{Job: j})
		}
		runtime.GC()
		b.StartTimer()
		c0 := threadCPU()
		in, _ := e.Step(t0)
		cpu += threadCPU() - c0
		placed += len(in)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
	if cpu > 0 {
		b.ReportMetric(float64(placed)/cpu.Seconds(), "placements/cpu-s")
	}
	b.ReportMetric(float64(placed)/float64(b.N), "placed/op")
}

// fullState builds the EU network full, with 100,000 jobs pending.
func fullState(tb testing.TB) (*engine.Engine, []core.JobID) {
	sites := euSites(tb)
	e := engine.New(benchConfig(), sites)
	var running []core.JobID
	next := core.JobID(1)
	// Fill in rounds until the backlog left waiting is 100,000 jobs.
	batch := 200_000
	for round := uint64(1); ; round++ {
		for _, j := range backlog(tb, batch, round, next, t0) {
			e.Apply(engine.Submitted{Job: j})
		}
		next += core.JobID(batch)
		batch = max(100_000-e.PendingCount(), 1000)
		in, _ := e.Step(t0)
		for _, x := range in {
			if s, ok := x.(engine.Start); ok {
				running = append(running, s.ID)
			}
		}
		if e.PendingCount() >= 100_000 || round > 10 {
			break
		}
	}
	return e, running
}

// BenchmarkIncremental: in the full network with 100,000 jobs pending,
// one running job ends and the engine decides the next placements
// (backfill included). It reports the p50, p99 and worst wall-clock
// latency of end+Step over 2,000 such events, 10 ms of virtual time apart
// (about the rate at which jobs end on 600,000 accelerators), the mean
// CPU time per event of the engine's thread (steady on a shared machine
// where wall time is not), and the heap in use for that state. Priorities are
// recomputed every minute of virtual time (DefaultConfig), so not within
// the 20 s measured; BenchmarkReprioritise measures that pass.
func BenchmarkIncremental(b *testing.B) {
	e, running := fullState(b)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMiB := float64(ms.HeapAlloc) / (1 << 20)
	pending, nrun := e.PendingCount(), len(running)
	used, total := 0.0, 0.0
	for _, p := range e.Cluster().Pools {
		used += float64(p.UsedMilli()) / 1000
		total += float64(p.Total())
	}
	r := rand.New(rand.NewPCG(9, 9))
	now := t0
	var lat []time.Duration
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	b.ResetTimer()
	for b.Loop() {
		for range 2000 {
			now = now.Add(10 * time.Millisecond)
			k := r.IntN(len(running))
			id := running[k]
			running[k] = running[len(running)-1]
			running = running[:len(running)-1]
			start := time.Now()
			e.Apply(engine.Ended{ID: id, State: core.StateCompleted, At: now})
			in, _ := e.Step(now)
			lat = append(lat, time.Since(start))
			for _, x := range in {
				if s, ok := x.(engine.Start); ok {
					running = append(running, s.ID)
				}
			}
		}
	}
	cpu := threadCPU() - c0
	slices.Sort(lat)
	b.ReportMetric(heapMiB, "heap-MiB")
	b.ReportMetric(float64(pending), "pending")
	b.ReportMetric(float64(nrun), "running")
	b.ReportMetric(100*used/total, "used-%")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/event")
	}
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// BenchmarkReprioritise measures the periodic pass of the full state:
// charge usage, rank the fair-share tree, recompute every pending job's
// priority, re-sort, recompute reservations and estimated starts.
func BenchmarkReprioritise(b *testing.B) {
	e, _ := fullState(b)
	now := t0
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Hour) // past PriorityInterval: the Step recomputes
		e.Step(now)
	}
}

// BenchmarkFullPassFGD is BenchmarkFullPass with one-node jobs placed by
// the fragmentation-aware policy (Config.Fragmentation) instead of best
// fit, with the backlog's own request mix.
func BenchmarkFullPassFGD(b *testing.B) {
	sites := euSites(b)
	jobs := backlog(b, 100_000, 1, 1, t0)
	var reqs []sched.NodeRequest
	for _, j := range jobs {
		if j.Spec.Accelerators <= 8000 {
			reqs = append(reqs, sched.NodeRequest{Devices: j.Spec.Accelerators.Whole(), PerDevice: 1000})
		}
	}
	cfg := benchConfig()
	cfg.Fragmentation = mixOf(reqs)
	placed := 0
	for b.Loop() {
		b.StopTimer()
		e := engine.New(cfg, sites)
		for _, j := range jobs {
			e.Apply(engine.Submitted{Job: j})
		}
		runtime.GC()
		b.StartTimer()
		in, _ := e.Step(t0)
		placed += len(in)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// mixOf is the request mix of reqs by frequency.
func mixOf(reqs []sched.NodeRequest) sched.RequestMix {
	count := map[int]int{}
	for _, r := range reqs {
		count[r.Devices]++
	}
	var keys []int
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var m sched.RequestMix
	for _, k := range keys {
		m = append(m, sched.MixEntry{NodeRequest: sched.NodeRequest{Devices: k, PerDevice: 1000}, Weight: float64(count[k]) / float64(len(reqs))})
	}
	return m
}
