package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// benchCommand is gf bench: load generators for a running server.
func benchCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "bench", "measure a running server: gf bench api (submissions and queries, throughput and latency)", nil)
	cmd.AddCommand(benchAPICommand(env))
	return cmd
}

// benchOpts bound gf bench api.
type benchOpts struct {
	duration    time.Duration
	requests    int
	concurrency int
	batch       int
	batchConc   int
	phases      string
	project     string
	keep        bool
}

// benchPhase is one phase's figures.
type benchPhase struct {
	Phase    string `json:"phase"` // baseline, single, batch or query
	Requests int    `json:"requests"`
	Errors   int    `json:"errors"`
	// Throttled counts the requests the server refused for the token's
	// rate limit (429): run gf serve --rate-limit 0 to measure the server.
	Throttled   int     `json:"throttled"`
	Jobs        int     `json:"jobs,omitempty"` // jobs submitted (acknowledged)
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"requests_per_second"`
	JobsPerSec  float64 `json:"jobs_per_second,omitempty"`
	P50Ms       float64 `json:"p50_ms"`
	P90Ms       float64 `json:"p90_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	Concurrency int     `json:"concurrency"`
	// ServerCPUSeconds is the CPU time the server process spent during the
	// phase (its process_cpu_seconds_total on /metrics, before and after;
	// 0 when not served): on a shared machine, what a request costs the
	// server, whatever else runs.
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	// ServerCPUMsPerJob is ServerCPUSeconds per job submitted (per request
	// in the baseline and query phases), in milliseconds.
	ServerCPUMsPerJob float64 `json:"server_cpu_ms_per_job,omitempty"`
	// ServerJobsPerCPUSecond is 1000 / ServerCPUMsPerJob: the jobs (or
	// requests) a second the server would handle with one core of its own,
	// what the throughput would be on an idle machine if the server were
	// bound by its CPU.
	ServerJobsPerCPUSecond float64 `json:"server_jobs_per_cpu_second,omitempty"`
}

// benchReport is gf bench api's answer.
type benchReport struct {
	URL       string       `json:"url"`
	Phases    []benchPhase `json:"phases"`
	Cancelled int          `json:"cancelled"` // jobs the bench submitted and then cancelled
}

func benchAPICommand(env *cliEnv) *cobra.Command {
	o := &benchOpts{}
	cmd := newCommand(env, "api", "load a running gf serve on loopback: single and batched submissions, and queries, for a time or a count; prints throughput and latency percentiles (table or -o json)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		return o.run(ctx, env)
	})
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long each phase runs (at most 10m)")
	f.IntVar(&o.requests, "requests", 0, "stop each phase after this many requests instead (0: --duration decides)")
	f.IntVar(&o.concurrency, "concurrency", 32, "clients sending at once (1-256)")
	f.IntVar(&o.batch, "batch", 1000, "jobs per request in the batch phase (1-10000)")
	f.IntVar(&o.batchConc, "batch-concurrency", 4, "clients sending batches at once (1-256)")
	f.StringVar(&o.phases, "phases", "baseline,single,batch,query", "the phases to run, in order: baseline (GET /healthz: the same clients against what costs the server least, this run's yardstick), single (one job a request), batch, query (GET /jobs/{id} and the job list)")
	f.StringVar(&o.project, "project", "", "project the bench's jobs are charged to (default: the server's default for you)")
	f.BoolVar(&o.keep, "keep", false, "leave the bench's jobs queued (they wait for a --begin a year ahead) instead of cancelling them at the end")
	return cmd
}

func (o *benchOpts) check() error {
	switch {
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return fmt.Errorf("--duration %v: want more than 0 and at most 10m", o.duration)
	case o.requests < 0:
		return fmt.Errorf("--requests %d: want 0 or more", o.requests)
	case o.concurrency < 1 || o.concurrency > 256:
		return fmt.Errorf("--concurrency %d: want 1 to 256", o.concurrency)
	case o.batchConc < 1 || o.batchConc > 256:
		return fmt.Errorf("--batch-concurrency %d: want 1 to 256", o.batchConc)
	case o.batch < 1 || o.batch > 10000:
		return fmt.Errorf("--batch %d: want 1 to 10000", o.batch)
	}
	for _, p := range strings.Split(o.phases, ",") {
		if !slices.Contains([]string{"baseline", "single", "batch", "query"}, p) {
			return fmt.Errorf("--phases: unknown phase %q (want baseline, single, batch, query)", p)
		}
	}
	return nil
}

// loopback refuses a server that is not on this machine: the bench
// submits thousands of jobs and must not be pointed at a production
// network by mistake.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("gf bench api runs only against a server on loopback (127.0.0.1, ::1, localhost), not %s", host)
}

func (o *benchOpts) run(ctx context.Context, env *cliEnv) error {
	if err := checkOutput(env); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return &flagError{err}
	}
	ep, err := discover(env)
	if err != nil {
		return err
	}
	if err := loopback(ep.url); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConns: o.concurrency * 2, MaxIdleConnsPerHost: o.concurrency * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c, err := client.New(ep.url, ep.token, client.WithHTTPClient(&http.Client{Transport: tr}), client.WithRetries(0), client.WithUserAgent("gf-bench/"+version))
	if err != nil {
		return err
	}
	if _, err := c.Whoami(ctx); err != nil {
		return fmt.Errorf("cannot use the server at %s (from %s): %w", ep.url, ep.from, err)
	}
	rep := benchReport{URL: ep.url}
	var ids idSet
	health := func(ctx context.Context) error { return healthz(ctx, tr, ep.url) }
	for _, phase := range strings.Split(o.phases, ",") {
		cpu0, ok0 := serverCPU(ctx, tr, ep.url)
		p := o.phase(ctx, c, health, phase, &ids)
		if cpu1, ok1 := serverCPU(ctx, tr, ep.url); ok0 && ok1 {
			p.ServerCPUSeconds = cpu1 - cpu0
			if n := max(p.Jobs, p.Requests); n > 0 {
				p.ServerCPUMsPerJob = p.ServerCPUSeconds * 1000 / float64(n)
			}
			if p.ServerCPUMsPerJob > 0 {
				p.ServerJobsPerCPUSecond = 1000 / p.ServerCPUMsPerJob
			}
		}
		rep.Phases = append(rep.Phases, p)
		if ctx.Err() != nil {
			break
		}
	}
	if !o.keep {
		rep.Cancelled = cancelAll(context.WithoutCancel(ctx), c, ids.all(), o.concurrency)
	}
	return emit(env, rep, func(w io.Writer) error {
		tw := newTable(w)
		fmt.Fprintln(tw, "PHASE\tCLIENTS\tREQUESTS\tERRORS\tREQ/S\tJOBS/S\tP50 MS\tP90 MS\tP99 MS\tMAX MS\tSERVER CPU MS/JOB\tJOBS/CPU-S")
		for _, p := range rep.Phases {
			jobs := "-"
			if p.Jobs > 0 {
				jobs = fmt.Sprintf("%.0f", p.JobsPerSec)
			}
			cpu, perCPU := "-", "-"
			if p.ServerCPUMsPerJob > 0 {
				cpu = fmt.Sprintf("%.3f", p.ServerCPUMsPerJob)
				perCPU = fmt.Sprintf("%.0f", p.ServerJobsPerCPUSecond)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\n", p.Phase, p.Concurrency, p.Requests, p.Errors, p.PerSecond, jobs, p.P50Ms, p.P90Ms, p.P99Ms, p.MaxMs, cpu, perCPU)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, p := range rep.Phases {
			if p.FirstError != "" {
				fmt.Fprintf(w, "%s: first error: %s\n", p.Phase, p.FirstError)
			}
			if p.Throttled > 0 {
				fmt.Fprintf(w, "%s: %d requests refused by the token's rate limit: these figures measure the limit, not the server; run gf serve --rate-limit 0 to measure it\n", p.Phase, p.Throttled)
			}
		}
		if o.keep {
			fmt.Fprintf(w, "%d jobs left queued (--keep); they wait for a --begin a year ahead\n", ids.len())
		} else {
			fmt.Fprintf(w, "%d jobs submitted by the bench cancelled\n", rep.Cancelled)
		}
		return nil
	})
}

// phase runs one phase: concurrency workers sending requests until the
// time or the count is up.
func (o *benchOpts) phase(ctx context.Context, c *client.Client, health func(context.Context) error, name string, ids *idSet) benchPhase {
	begin := time.Now().AddDate(1, 0, 0).UTC().Format("2006-01-02T15:04:05")
	spec := core.JobSpec{Name: "gf-bench", Command: []string{"true"}, Project: o.project, Begin: begin}
	var sent atomic.Int64
	take := func() bool { return o.requests == 0 || sent.Add(1) <= int64(o.requests) }
	pctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	if o.requests > 0 {
		pctx, cancel = context.WithCancel(ctx) // the count decides, not the time
		defer cancel()
	}
	var known []core.JobID
	if name == "query" {
		known = ids.all()
		if len(known) == 0 { // nothing submitted yet: query what one submission makes
			if j, err := c.Submit(ctx, spec, ""); err == nil {
				ids.add(j.ID)
				known = []core.JobID{j.ID}
			}
		}
	}
	type result struct {
		lat                   []time.Duration
		errs, jobs, throttled int
		first                 string
	}
	workers := o.concurrency
	if name == "batch" {
		workers = o.batchConc
	}
	results := make([]result, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			for i := 0; pctx.Err() == nil && take(); i++ {
				t0 := time.Now()
				var err error
				switch name {
				case "baseline":
					err = health(pctx)
				case "single":
					var j *core.Job
					if j, err = c.Submit(pctx, spec, ""); err == nil {
						ids.add(j.ID)
						r.jobs++
					}
				case "batch":
					specs := make([]core.JobSpec, o.batch)
					for k := range specs {
						specs[k] = spec
					}
					var js []core.Job
					if js, err = c.SubmitBatch(pctx, specs, ""); err == nil {
						for _, j := range js {
							ids.add(j.ID)
						}
						r.jobs += len(js)
					}
				case "query":
					if i%2 == 0 && len(known) > 0 {
						_, err = c.GetJob(pctx, known[(w*7919+i)%len(known)])
					} else {
						_, err = c.ListJobs(pctx, client.JobFilter{Limit: 100}, "")
					}
				}
				if pctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
					break // the phase's time ended mid-request: not an error
				}
				r.lat = append(r.lat, time.Since(t0))
				if throttled(err) {
					r.throttled++
				}
				if err != nil {
					r.errs++
					if r.first == "" {
						r.first = err.Error()
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	p := benchPhase{Phase: name, Seconds: elapsed, Concurrency: workers}
	var lat []time.Duration
	for _, r := range results {
		lat = append(lat, r.lat...)
		p.Errors += r.errs
		p.Throttled += r.throttled
		p.Jobs += r.jobs
		if p.FirstError == "" {
			p.FirstError = r.first
		}
	}
	p.Requests = len(lat)
	if elapsed > 0 {
		p.PerSecond = float64(p.Requests) / elapsed
		p.JobsPerSec = float64(p.Jobs) / elapsed
	}
	slices.Sort(lat)
	p.P50Ms, p.P90Ms, p.P99Ms = quantileMs(lat, 0.50), quantileMs(lat, 0.90), quantileMs(lat, 0.99)
	if len(lat) > 0 {
		p.MaxMs = float64(lat[len(lat)-1]) / 1e6
	}
	return p
}

// healthz is one GET /healthz on base: the baseline phase's request,
// through the same transport as the others.
func healthz(ctx context.Context, tr http.RoundTripper, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return nil
}

// serverCPU reads the server's process_cpu_seconds_total from its
// /metrics; ok is false when it serves none.
func serverCPU(ctx context.Context, tr http.RoundTripper, base string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// throttled reports a 429: the token's rate limit refused the request.
func throttled(err error) bool {
	var p *client.Problem
	return errors.As(err, &p) && p.Status == http.StatusTooManyRequests
}

// quantileMs is the q-quantile of sorted latencies (nearest rank), in ms.
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / 1e6
}

// cancelAll cancels the bench's jobs, cancelChunk a request
// (POST /api/v1/jobs:cancel, the pending ones in one transaction), a few
// requests at once; it returns how many were cancelled.
func cancelAll(ctx context.Context, c *client.Client, ids []core.JobID, concurrency int) int {
	var n atomic.Int64
	work := make(chan []core.JobID)
	var wg sync.WaitGroup
	for range min(concurrency, 4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range work {
				for try := 0; try < 60; try++ {
					js, err := c.CancelJobs(ctx, chunk)
					for _, j := range js {
						if j.State == core.StateCancelled {
							n.Add(1)
						}
					}
					if !throttled(err) {
						break
					}
					time.Sleep(time.Second) // the token's rate limit: wait for it
				}
			}
		}()
	}
	for lo := 0; lo < len(ids); lo += cancelChunk {
		work <- ids[lo:min(lo+cancelChunk, len(ids))]
	}
	close(work)
	wg.Wait()
	return int(n.Load())
}

// cancelChunk is how many jobs one cancel request of the bench names.
const cancelChunk = 1000

// idSet collects the ids of the jobs the bench submitted.
type idSet struct {
	mu  sync.Mutex
	ids []core.JobID
}

func (s *idSet) add(id core.JobID) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()
}

func (s *idSet) all() []core.JobID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}
