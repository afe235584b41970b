package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// httpStats counts requests per route and status, with a latency histogram.
type httpStats struct {
	mu    sync.Mutex
	count map[string]int64 // "route|status"
	hist  map[string]*histogram
}

var buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type histogram struct {
	counts []int64
	sum    float64
	n      int64
}

func (h *httpStats) observe(route string, status int, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == nil {
		h.count, h.hist = map[string]int64{}, map[string]*histogram{}
	}
	h.count[fmt.Sprintf("%s|%d", route, status)]++
	hg := h.hist[route]
	if hg == nil {
		hg = &histogram{counts: make([]int64, len(buckets))}
		h.hist[route] = hg
	}
	sec := d.Seconds()
	for i, b := range buckets {
		if sec <= b {
			hg.counts[i]++
		}
	}
	hg.sum += sec
	hg.n++
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	var b strings.Builder
	m := s.d.Metrics()
	fmt.Fprintf(&b, "# HELP gf_jobs_submitted_total Jobs accepted since start.\n# TYPE gf_jobs_submitted_total counter\ngf_jobs_submitted_total %d\n", m.Submitted.Load())
	fmt.Fprintf(&b, "# HELP gf_jobs_started_total Jobs launched since start.\n# TYPE gf_jobs_started_total counter\ngf_jobs_started_total %d\n", m.Started.Load())
	fmt.Fprintf(&b, "# HELP gf_jobs_ended_total Jobs ended since start, by final state.\n# TYPE gf_jobs_ended_total counter\n")
	for _, st := range []core.State{core.StateCompleted, core.StateFailed, core.StateCancelled, core.StateTimeout} {
		fmt.Fprintf(&b, "gf_jobs_ended_total{state=%q} %d\n", st, m.EndedCount(st))
	}
	fmt.Fprintf(&b, "# HELP gf_scheduler_steps_total Scheduling passes.\n# TYPE gf_scheduler_steps_total counter\ngf_scheduler_steps_total %d\n", m.Steps.Load())
	fmt.Fprintf(&b, "# HELP gf_scheduler_step_seconds_total Time spent in scheduling passes.\n# TYPE gf_scheduler_step_seconds_total counter\ngf_scheduler_step_seconds_total %g\n", float64(m.StepNanos.Load())/1e9)
	if u, err := s.d.Usage(r.Context()); err == nil {
		fmt.Fprintf(&b, "# HELP gf_jobs_pending Jobs waiting.\n# TYPE gf_jobs_pending gauge\ngf_jobs_pending %d\n", u.Pending)
		fmt.Fprintf(&b, "# HELP gf_jobs_active Jobs starting or running.\n# TYPE gf_jobs_active gauge\ngf_jobs_active %d\n", u.Active)
		fmt.Fprintf(&b, "# HELP gf_accelerators_in_use Accelerators held by jobs.\n# TYPE gf_accelerators_in_use gauge\ngf_accelerators_in_use %g\n", float64(u.InUse)/1000)
		fmt.Fprintf(&b, "# HELP gf_accelerators Accelerators in the federation.\n# TYPE gf_accelerators gauge\ngf_accelerators %d\n", u.Capacity)
	}
	s.stats.mu.Lock()
	keys := make([]string, 0, len(s.stats.count))
	for k := range s.stats.count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "# HELP gf_http_requests_total HTTP requests by route and status.\n# TYPE gf_http_requests_total counter\n")
	for _, k := range keys {
		route, code, _ := strings.Cut(k, "|")
		fmt.Fprintf(&b, "gf_http_requests_total{route=%q,code=%q} %d\n", route, code, s.stats.count[k])
	}
	routes := make([]string, 0, len(s.stats.hist))
	for k := range s.stats.hist {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	fmt.Fprintf(&b, "# HELP gf_http_request_seconds HTTP request latency.\n# TYPE gf_http_request_seconds histogram\n")
	for _, rt := range routes {
		h := s.stats.hist[rt]
		for i, le := range buckets {
			fmt.Fprintf(&b, "gf_http_request_seconds_bucket{route=%q,le=\"%g\"} %d\n", rt, le, h.counts[i])
		}
		fmt.Fprintf(&b, "gf_http_request_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", rt, h.n)
		fmt.Fprintf(&b, "gf_http_request_seconds_sum{route=%q} %g\ngf_http_request_seconds_count{route=%q} %d\n", rt, h.sum, rt, h.n)
	}
	s.stats.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, err := w.Write([]byte(b.String()))
	return err
}
