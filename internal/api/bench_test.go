package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The submission benchmarks measure durable submissions per second over
// real HTTP on loopback into a real SQLite store (WAL), with latency
// percentiles. Jobs stay pending (the server has no sites), so the figure is
// the front door's, not process start-up's.
//
//	go test -run '^$' -bench 'Submit' -benchtime 20000x ./internal/api

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

func post(c *http.Client, url, token string, body []byte, hdr ...string) (int, error) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}

// BenchmarkSubmitSingle: one job per request, 32 concurrent clients.
func BenchmarkSubmitSingle(b *testing.B) {
	ts := newTestServer(b, nil)
	const clients = 32
	c := benchClient(clients)
	body := []byte(`{"command":["true"],"accelerators":1}`)
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		fail atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				code, err := post(c, ts.url+"/api/v1/jobs", ts.admin, body, "Idempotency-Key", fmt.Sprintf("b-%d", i))
				local = append(local, time.Since(t0))
				if err != nil || code != 201 {
					fail.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if f := fail.Load(); f > 0 {
		b.Fatalf("%d of %d submissions failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99_ms")
}

// BenchmarkSubmitBatch: 1,000 jobs per request, 4 concurrent clients.
func BenchmarkSubmitBatch(b *testing.B) {
	ts := newTestServer(b, nil)
	const per, clients = 1000, 4
	jobs := make([]json.RawMessage, per)
	for i := range jobs {
		jobs[i] = json.RawMessage(`{"command":["true"],"accelerators":1}`)
	}
	body, _ := json.Marshal(map[string]any{"jobs": jobs})
	c := benchClient(clients)
	requests := (b.N + per - 1) / per
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  []time.Duration
		fail atomic.Int64
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) {
				t0 := time.Now()
				code, err := post(c, ts.url+"/api/v1/jobs:batch", ts.admin, body)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				if err != nil || code != 201 {
					fail.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if f := fail.Load(); f > 0 {
		b.Fatalf("%d of %d batches failed", f, requests)
	}
	b.ReportMetric(float64(requests*per)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "batch_p50_ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "batch_p99_ms")
}

// BenchmarkBaselineHealthz is the same-run baseline for BenchmarkSubmitSingle:
// the same 32 clients and loopback HTTP, against an endpoint that does no
// work, so the ratio between the two is the cost of a durable submission.
func BenchmarkBaselineHealthz(b *testing.B) {
	ts := newTestServer(b, nil)
	const clients = 32
	c := benchClient(clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				resp, err := c.Get(ts.url + "/healthz")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
