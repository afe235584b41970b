package api

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gigafactory/gigafactory/internal/core"
)

// /metrics is Prometheus' text format from client_golang: the Go runtime
// and process collectors, and gf's figures per site and pool, pending jobs
// by reason, the scheduling passes' and the store's latency histograms,
// requests by route.
func TestMetrics(t *testing.T) {
	ts := newTestServer(t, localSite(4))
	// One job runs and holds 4 accelerators; a second waits for them.
	var run, wait core.Job
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", map[string]any{"command": []string{"sleep", "30"}, "accelerators": 4}, &run)
	ts.waitState(t, run.ID, func(s core.State) bool { return s == core.StateRunning })
	ts.do(t, ts.admin, "POST", "/api/v1/jobs", map[string]any{"command": []string{"true"}, "accelerators": 1}, &wait)
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(ts.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(raw)
		if strings.Contains(body, `gf_site_jobs{site="local",state="pending"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		"go_goroutines ",
		"process_cpu_seconds_total ",
		`gf_site_accelerators{model="virtual",pool="node",site="local"} 4`,
		`gf_site_accelerators_in_use{model="virtual",pool="node",site="local"} 4`,
		`gf_site_jobs{site="local",state="running"} 1`,
		`gf_site_jobs{site="local",state="pending"} 1`,
		`gf_site_state{site="local",state="active"} 1`,
		`gf_site_state{site="local",state="down"} 0`,
		"gf_jobs_pending{reason=",
		"gf_accelerators 4",
		"gf_accelerators_in_use 4",
		"gf_jobs_submitted_total 2",
		"gf_controller_leader 1",
		`gf_scheduler_step_seconds_bucket{le="0.001"}`,
		"gf_scheduler_step_seconds_count ",
		`gf_store_write_seconds_bucket{le="+Inf"}`,
		`gf_http_requests_total{code="201",route="POST /api/v1/jobs"} 2`,
		`gf_http_request_seconds_bucket{route="POST /api/v1/jobs",le="0.5"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	ts.do(t, ts.admin, "DELETE", "/api/v1/jobs/"+run.ID.String(), nil, nil)
}

// The example Grafana dashboard in docs/ queries only metrics /metrics
// serves.
func TestGrafanaDashboardNamesServedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana/gigafactory.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, localSite(1))
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// gf's own metrics are declared even when they have no sample yet
	// (no pending job, no driver error): take their names from the
	// collectors' descriptions.
	declared := map[string]bool{"gf_http_requests_total": true, "gf_http_request_seconds": true}
	ch := make(chan *prometheus.Desc, 64)
	(&gfCollector{}).Describe(ch)
	close(ch)
	fq := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		declared[fq.FindStringSubmatch(d.String())[1]] = true
	}
	name := regexp.MustCompile(`\b((?:gf|go|process)_[a-z_]+?)(?:_bucket|_sum|_count)?\b`)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				if !declared[m[1]] && !strings.Contains(string(served), "# TYPE "+m[1]+" ") {
					t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, m[1])
				}
			}
		}
	}
	if len(dash.Panels) < 8 {
		t.Errorf("the dashboard has %d panels", len(dash.Panels))
	}
}
