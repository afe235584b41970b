package broker_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// benchJobs builds n random jobs of the shapes the EU network sees: mixed
// models, access modes, residency and datasets.
func benchJobs(n int, countries []string) []core.Job {
	rng := rand.New(rand.NewPCG(1, 2))
	models := []string{"", "", "NVIDIA H100", "NVIDIA GB200", "NVIDIA GH200|NVIDIA A100", "NVIDIA B200"}
	qos := []string{"", core.QoSNormal, core.QoSPlayground, core.QoSFastLane, core.QoSLargeScale, core.QoSMoonshot}
	jobs := make([]core.Job, n)
	for i := range jobs {
		sp := core.JobSpec{
			Accelerators: core.Milli(1000 << rng.IntN(10)), Model: models[rng.IntN(len(models))],
			QoS: qos[rng.IntN(len(qos))], Walltime: core.Duration(time.Duration(1+rng.IntN(48)) * time.Hour),
		}
		switch rng.IntN(4) {
		case 0:
			sp.Residency = []string{"EU"}
		case 1:
			sp.Residency = []string{countries[rng.IntN(len(countries))], countries[rng.IntN(len(countries))]}
		}
		if rng.IntN(3) == 0 {
			sp.Datasets = []string{"corpus-" + string(rune('a'+rng.IntN(4)))}
		}
		jobs[i] = core.Job{ID: core.JobID(i + 1), Spec: sp}
	}
	return jobs
}

// BenchmarkBroker measures broker decisions per second: each iteration
// decides 100,000 random jobs over the EU reference network (37 sites),
// building every site's verdict.
func BenchmarkBroker(b *testing.B) {
	eu := config.EU()
	var countries []string
	for _, s := range eu.Sites {
		countries = append(countries, s.Country)
	}
	reg := map[string][]string{"corpus-a": {"mimer", "gf-fr"}, "corpus-b": {"jaif"}, "corpus-c": {"bsc-aif", "gf-spain"}, "corpus-d": {"lumi-aif"}}
	br := broker.New(broker.Config{Datasets: reg}, eu.Sites)
	br.SetState("hammerhai", core.SiteDraining)
	br.SetState("gf-baltic", core.SiteDown)
	est := &flat{wait: make([]time.Duration, len(eu.Sites)), head: make([]float64, len(eu.Sites))}
	for i := range est.wait {
		est.wait[i] = time.Duration(i%7) * time.Hour
		est.head[i] = float64(i%3) / 2
	}
	jobs := benchJobs(100_000, countries)
	b.ReportAllocs()
	b.ResetTimer()
	won := 0
	for b.Loop() {
		for i := range jobs {
			if d := br.Decide(&jobs[i], est); d.Winner != "" {
				won++
			}
		}
	}
	b.ReportMetric(float64(b.N*len(jobs))/b.Elapsed().Seconds(), "decisions/s")
	if won == 0 {
		b.Fatal("no job found a site")
	}
}
