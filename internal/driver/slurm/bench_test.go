package slurm

// Submission throughput through the driver against raw REST calls carrying
// the same body, in the same run, so the driver's overhead per job is the
// difference of the two ns/op. Run against the test cluster:
//
//	eval "$(sudo bash scripts/slurm/start.sh)"
//	go test -run '^$' -bench 'Submit|DirectREST' -benchtime 300x ./internal/driver/slurm/

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

var benchID atomic.Int64

// benchDriver is a test driver that logs nothing (log lines would split
// the benchmark's output lines).
func benchDriver(b *testing.B, c cluster, prefix string) *Driver {
	opts := c.options(uniquePrefix(prefix))
	opts.Logger = slog.New(slog.DiscardHandler)
	return newTestDriver(b, opts)
}

func benchJob() core.Job {
	j := shJob(core.JobID(benchID.Add(1)), "true", 1, 0)
	j.Spec.Partition = "small"
	return j
}

// BenchmarkSubmit measures Driver.Start: build the request, sign it,
// POST, decode, record the handle.
func BenchmarkSubmit(b *testing.B) {
	c := testCluster(b)
	d := benchDriver(b, c, "bench")
	ctx := context.Background()
	if _, err := d.Start(ctx, benchJob()); err != nil { // negotiate and index once
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Start(ctx, benchJob()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// directPoster returns a function that POSTs the body d would send for
// benchJob straight to slurmrestd with a plain keep-alive client, and
// returns the Slurm job id: the floor gf and the driver are compared with.
func directPoster(b *testing.B, c cluster, d *Driver) func() int64 {
	req, err := d.request(context.Background(), v0038{}, benchJob())
	if err != nil {
		b.Fatal(err)
	}
	body, err := v0038{}.SubmitBody(req)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{}
	return func() int64 {
		r, _ := http.NewRequest("POST", c.URL+"/slurm/v0.0.38/job/submit", bytes.NewReader(body))
		r.Header.Set("X-SLURM-USER-NAME", c.User)
		r.Header.Set("X-SLURM-USER-TOKEN", c.Token)
		r.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var ans struct {
			JobID int64 `json:"job_id"`
		}
		if res.StatusCode != 200 || json.Unmarshal(out, &ans) != nil || ans.JobID == 0 {
			b.Fatalf("HTTP %d: %s", res.StatusCode, out)
		}
		return ans.JobID
	}
}

// BenchmarkDirectREST POSTs the body the driver would send, with a plain
// keep-alive client: the floor the driver is compared with.
func BenchmarkDirectREST(b *testing.B) {
	c := testCluster(b)
	post := directPoster(b, c, benchDriver(b, c, "raw"))
	post()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		post()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkSubmitParallel is BenchmarkSubmit from 4 goroutines sharing one
// Driver.
func BenchmarkSubmitParallel(b *testing.B) {
	c := testCluster(b)
	d := benchDriver(b, c, "benchp")
	ctx := context.Background()
	if _, err := d.Start(ctx, benchJob()); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(2) // x GOMAXPROCS (2 here): 4 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Start(ctx, benchJob()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkOverhead alternates a driver submit and a raw POST of the same
// body in one loop, so that both see the same load on a shared machine, and
// reports each one's mean and the driver's overhead per job.
func BenchmarkOverhead(b *testing.B) {
	c := testCluster(b)
	d := benchDriver(b, c, "ovh")
	ctx := context.Background()
	if _, err := d.Start(ctx, benchJob()); err != nil {
		b.Fatal(err)
	}
	req, err := d.request(ctx, v0038{}, benchJob())
	if err != nil {
		b.Fatal(err)
	}
	body, err := v0038{}.SubmitBody(req)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{}
	var viaDriver, direct time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := d.Start(ctx, benchJob()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		r, _ := http.NewRequest("POST", c.URL+"/slurm/v0.0.38/job/submit", bytes.NewReader(body))
		r.Header.Set("X-SLURM-USER-NAME", c.User)
		r.Header.Set("X-SLURM-USER-TOKEN", c.Token)
		r.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		viaDriver += t1.Sub(t0)
		direct += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(viaDriver.Microseconds())/n, "driver-µs/job")
	b.ReportMetric(float64(direct.Microseconds())/n, "direct-µs/job")
	b.ReportMetric(float64((viaDriver-direct).Microseconds())/n, "overhead-µs/job")
}
