package sim

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/trace"
)

// BenchmarkEUReplay replays the Philly mix, synthesised to offer 90% of
// the EU reference network (config.EU, 584,764 accelerators) plus
// moonshots, through the engine. GF_BENCH_SPAN sets the simulated span
// (default 1h; the acceptance figure is 720h), GF_BENCH_POLICY the
// policy (default fifo) and GF_BENCH_LOAD the offered load (default 0.9;
// a higher one fills the network sooner, to profile the saturated state). It reports simulated jobs, engine events per
// wall second and the heap obtained from the OS (peak RSS is what
// /usr/bin/time reports for the equivalent gf simulate command, see
// docs/PERFORMANCE.md).
func BenchmarkEUReplay(b *testing.B) {
	span := time.Hour
	if s := os.Getenv("GF_BENCH_SPAN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		span = d
	}
	policy := PolicyFIFO
	if p := os.Getenv("GF_BENCH_POLICY"); p != "" {
		policy = p
	}
	base := phillyAll(b)
	sites := config.EU().Sites
	capacity := 0
	for _, s := range sites {
		capacity += s.Totals()
	}
	load := 0.9
	if s := os.Getenv("GF_BENCH_LOAD"); s != "" {
		var err error
		if load, err = strconv.ParseFloat(s, 64); err != nil {
			b.Fatal(err)
		}
	}
	mult := MultiplierFor(base, capacity, load)
	tick := time.Second // as gf simulate's --tick default
	if s := os.Getenv("GF_BENCH_TICK"); s != "" {
		var err error
		if tick, err = time.ParseDuration(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sy, err := NewSynth(SynthConfig{Base: base, Multiplier: mult, Span: span, Seed: 1, Classes: DefaultClasses, MoonshotsPerDay: 0.3})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := Replay(ReplayConfig{Policy: policy, Sites: sites, Jobs: sy, Horizon: span, OrgKind: sy.TenantClasses(), Clock: time.Now, Tick: tick, Fast: true})
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(t0).Seconds()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(res.Jobs), "jobs")
		b.ReportMetric(float64(res.Events)/wall, "events/s")
		b.ReportMetric(float64(res.Jobs)/wall, "jobs/s")
		b.ReportMetric(res.Utilisation, "util")
		b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heapsys-MiB")
		b.Logf("span %v: %d jobs (%s), %d events, %d steps, wall %.1fs, utilisation %.3f", span, res.Jobs, strconv.Itoa(res.Started), res.Events, res.Steps, wall, res.Utilisation)
	}
}

// BenchmarkPlacement is one seed of the openb placement experiment per
// policy (10,750 pods on 1,213 nodes).
func BenchmarkPlacement(b *testing.B) {
	nodes, _, err := trace.OpenNodes(openbGPU, trace.Options{Strict: true})
	if err != nil {
		b.Fatal(err)
	}
	src, err := trace.OpenPods(openbPod, trace.Options{Strict: true})
	if err != nil {
		b.Fatal(err)
	}
	var pods []trace.Job
	for {
		j, err := src.Next()
		if err != nil {
			break
		}
		pods = append(pods, j)
	}
	for _, pol := range []string{PlaceBestFit, PlaceGigafactory} {
		b.Run(pol, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := RunPlacement(PlacementConfig{Nodes: nodes, Pods: pods, Demand: 1.3, Seeds: []uint64{42}, Policies: []string{pol}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
