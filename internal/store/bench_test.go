package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// BenchmarkSubmitSingleParallel is the HTTP single-submission path: many
// concurrent callers, one job per call, each durable before it returns.
// Run with e.g. -bench SubmitSingle -benchtime 20000x.
func BenchmarkSubmitSingleParallel(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db := open(b, be.fresh(b))
			ctx := context.Background()
			j := jobOf("bench", "ada", "p1")
			b.SetParallelism(32) // 32 x GOMAXPROCS callers, like many HTTP clients
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := db.SubmitJobs(ctx, []core.Job{j}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
			commits, calls := db.CommitStats()
			b.ReportMetric(float64(calls)/float64(max(commits, 1)), "calls/commit")
		})
	}
}

// BenchmarkSubmitBatch1000 is the jobs:batch path: one call with 1,000 jobs.
func BenchmarkSubmitBatch1000(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db := open(b, be.fresh(b))
			ctx := context.Background()
			batch := make([]core.Job, 1000)
			for i := range batch {
				batch[i] = jobOf("bench", "ada", "p1")
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, _, err := db.SubmitJobs(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "jobs/s")
		})
	}
}

// BenchmarkUpdateJob is the daemon's per-transition write: the job row and
// one event in one transaction, callers one after another.
func BenchmarkUpdateJob(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			db := open(b, be.fresh(b))
			ctx := context.Background()
			js, _, err := db.SubmitJobs(ctx, []core.Job{jobOf("bench", "ada", "p1")})
			if err != nil {
				b.Fatal(err)
			}
			j := js[0]
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				j.Reason = "waiting"
				j.UpdateTime = t0.Add(time.Duration(i) * time.Millisecond)
				if err := db.UpdateJob(ctx, j, core.Event{Type: "reason", State: j.State, Message: "waiting"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
		})
	}
}
