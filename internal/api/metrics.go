package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/metrics"
	"github.com/gigafactory/gigafactory/internal/store"
)

// httpBuckets are the request latency histogram's upper bounds (seconds).
var httpBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// httpStats are the API's request metrics.
type httpStats struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func (h *httpStats) observe(route string, status int, d time.Duration) {
	h.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	h.latency.WithLabelValues(route).Observe(d.Seconds())
}

// newRegistry returns the server's Prometheus registry: the Go runtime and
// process collectors, the API's request metrics, and gf's own collector
// (scrape-time figures from the daemon and the store).
func (s *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	s.stats = httpStats{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gf_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "code"}),
		latency:  prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gf_http_request_seconds", Help: "HTTP request latency by route.", Buckets: httpBuckets}, []string{"route"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.stats.requests, s.stats.latency, &gfCollector{d: s.d, st: s.st})
	return reg
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
	return nil
}

// gfCollector reads the daemon's and the store's figures at each scrape:
// totals, every site's and pool's accelerators and jobs, pending jobs by
// reason, the scheduling passes' and the store's write latencies, and
// driver errors.
type gfCollector struct {
	d  *daemon.Daemon
	st *store.DB
}

var (
	descSubmitted  = prometheus.NewDesc("gf_jobs_submitted_total", "Jobs accepted since start.", nil, nil)
	descStarted    = prometheus.NewDesc("gf_jobs_started_total", "Jobs launched since start.", nil, nil)
	descEnded      = prometheus.NewDesc("gf_jobs_ended_total", "Jobs ended since start, by final state.", []string{"state"}, nil)
	descSteps      = prometheus.NewDesc("gf_scheduler_steps_total", "Scheduling passes.", nil, nil)
	descStepSecs   = prometheus.NewDesc("gf_scheduler_step_seconds", "Duration of scheduling passes.", nil, nil)
	descStoreTx    = prometheus.NewDesc("gf_store_write_seconds", "Duration of the store's write transactions (group commits of submissions included).", nil, nil)
	descPending    = prometheus.NewDesc("gf_jobs_pending", "Jobs waiting, by the reason they give (squeue's).", []string{"reason"}, nil)
	descActive     = prometheus.NewDesc("gf_jobs_active", "Jobs starting or running.", nil, nil)
	descAccels     = prometheus.NewDesc("gf_accelerators", "Accelerators in the federation.", nil, nil)
	descInUse      = prometheus.NewDesc("gf_accelerators_in_use", "Accelerators held by jobs.", nil, nil)
	descSiteAccels = prometheus.NewDesc("gf_site_accelerators", "Accelerators of a site's pool.", []string{"site", "pool", "model"}, nil)
	descSiteInUse  = prometheus.NewDesc("gf_site_accelerators_in_use", "Accelerators of a site's pool held by jobs.", []string{"site", "pool", "model"}, nil)
	descSiteJobs   = prometheus.NewDesc("gf_site_jobs", "A site's jobs: running there, or pending for it (pinned or routed).", []string{"site", "state"}, nil)
	descSiteState  = prometheus.NewDesc("gf_site_state", "A site's lifecycle state (1 for its current one).", []string{"site", "state"}, nil)
	descDriverErrs = prometheus.NewDesc("gf_driver_errors_total", "Errors from a site's driver, by operation.", []string{"site", "op"}, nil)
	descLeader     = prometheus.NewDesc("gf_controller_leader", "1 while this controller leads (schedules and runs the drivers), 0 while it follows.", nil, nil)
	descEpoch      = prometheus.NewDesc("gf_controller_epoch", "The leader lease's epoch (fencing token) this controller last held.", nil, nil)
)

func (c *gfCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSubmitted, descStarted, descEnded, descSteps, descStepSecs, descStoreTx, descPending, descActive,
		descAccels, descInUse, descSiteAccels, descSiteInUse, descSiteJobs, descSiteState, descDriverErrs, descLeader, descEpoch} {
		ch <- d
	}
}

// scrapeTimeout bounds the figures a scrape asks the daemon's loop for.
const scrapeTimeout = 5 * time.Second

func (c *gfCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.d.Metrics()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descSubmitted, float64(m.Submitted.Load()))
	counter(descStarted, float64(m.Started.Load()))
	for _, st := range []core.State{core.StateCompleted, core.StateFailed, core.StateCancelled, core.StateTimeout} {
		counter(descEnded, float64(m.EndedCount(st)), string(st))
	}
	counter(descSteps, float64(m.Steps.Load()))
	histogram(ch, descStepSecs, m.StepSeconds)
	histogram(ch, descStoreTx, c.st.TxSeconds())
	for k, n := range m.DriverErrors() {
		counter(descDriverErrs, float64(n), k[0], k[1])
	}
	leading := 0.0
	if c.d.Leading() {
		leading = 1
	}
	gauge(descLeader, leading)
	gauge(descEpoch, float64(c.d.Epoch()))
	if !c.d.Leading() {
		return // a follower's engine is idle: the leader reports the load
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if reasons, err := c.d.PendingReasons(ctx); err == nil {
		for r, n := range reasons {
			gauge(descPending, float64(n), r)
		}
	}
	loads, err := c.d.Loads(ctx, false)
	if err != nil {
		return
	}
	var total int
	var inUse float64
	active := 0
	for _, site := range c.d.Sites() {
		total += site.Totals()
		state := site.State
		if state == "" {
			state = core.SiteActive
		}
		for _, s := range []string{core.SiteActive, core.SiteDraining, core.SiteDown} {
			v := 0.0
			if s == state {
				v = 1
			}
			gauge(descSiteState, v, site.ID, s)
		}
		l := loads[site.ID]
		if l == nil {
			continue
		}
		inUse += l.InUse
		active += l.Running
		gauge(descSiteJobs, float64(l.Running), site.ID, "running")
		gauge(descSiteJobs, float64(l.Pending), site.ID, "pending")
		for i, p := range site.Pools {
			gauge(descSiteAccels, float64(p.Nodes*p.AccelPerNode), site.ID, p.Name, p.Model)
			if i < len(l.Pools) {
				gauge(descSiteInUse, l.Pools[i].InUse, site.ID, p.Name, p.Model)
			}
		}
	}
	gauge(descAccels, float64(total))
	gauge(descInUse, inUse)
	gauge(descActive, float64(active))
}

// histogram exports h as a Prometheus histogram.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h *metrics.Histogram) {
	if h == nil {
		return
	}
	buckets, n, sum := h.Snapshot()
	ch <- prometheus.MustNewConstHistogram(d, n, sum, buckets)
}
