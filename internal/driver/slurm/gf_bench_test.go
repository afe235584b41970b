package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/api"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// BenchmarkThroughGF measures submissions per second through gf to Slurm:
// b.N jobs POSTed to the real API in one batch, until the daemon has
// started every one of them in Slurm through this driver (each has a Slurm
// job id). In the same run, the same number of raw REST submissions of the
// driver's body to slurmrestd: the floor. overhead-µs/job is gf's cost per
// job beyond that floor.
//
//	eval "$(bash scripts/slurm/start.sh)"
//	go test -run '^$' -bench ThroughGF -benchtime 200x -count 3 ./internal/driver/slurm/
func BenchmarkThroughGF(b *testing.B) {
	c := testCluster(b)
	ctx := context.Background()
	opts := c.options(uniquePrefix("gfbench"))
	opts.Logger = slog.New(slog.DiscardHandler)
	drv := newTestDriver(b, opts)

	// The floor: direct POSTs of the body the driver sends.
	direct1 := directPoster(b, c, drv)
	var ids []int64
	post := func() { ids = append(ids, direct1()) }
	post() // warm the connection
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		post()
	}
	direct := time.Since(t0)
	for _, id := range ids {
		_ = drv.cancelID(ctx, v0038{}, id, "")
	}

	// Through gf: store, daemon, API, this driver.
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "gf.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	site := core.Site{ID: "slurm", Kind: core.SiteFactory, Country: "LU", Driver: "slurm", State: core.SiteActive,
		// Slurm keeps its own queue: gf's model of the partition is large
		// so that gf hands every job over at once, as a site with a deep
		// queue would.
		Pools: []core.Pool{{Name: "small", Model: "a100", AccelPerNode: 2, Nodes: 100000}}}
	d, err := daemon.New(daemon.Options{Store: st, Sites: []core.Site{site}, Drivers: map[string]driver.Driver{"slurm": drv},
		Engine: engine.DefaultConfig(), PollEvery: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for _, err := range []error{
		st.CreateOrg(ctx, core.Org{Name: "o", Kind: core.OrgResearch, Country: "LU", CreatedAt: now}),
		st.CreateProject(ctx, core.Project{Name: "p", Org: "o", CreatedAt: now}),
		st.CreateUser(ctx, core.User{Name: "admin", Org: "o", Role: core.RoleAdmin, CreatedAt: now}),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	tok, hash := api.NewToken()
	if err := st.CreateToken(ctx, "admin", hash, "bench"); err != nil {
		b.Fatal(err)
	}
	if err := d.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	hs := httptest.NewServer(api.New(d, slog.New(slog.DiscardHandler), "bench").Handler())
	defer hs.Close()

	jobs := make([]json.RawMessage, b.N)
	for i := range jobs {
		jobs[i] = json.RawMessage(`{"command":["true"],"project":"p","accelerators":1,"walltime":"5m"}`)
	}
	batch, _ := json.Marshal(map[string]any{"jobs": jobs})
	b.ResetTimer()
	t0 = time.Now()
	r, _ := http.NewRequest("POST", hs.URL+"/api/v1/jobs:batch", bytes.NewReader(batch))
	r.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		b.Fatalf("batch: HTTP %d: %s", res.StatusCode, out)
	}
	for d.Metrics().Started.Load() < int64(b.N) {
		if time.Since(t0) > 10*time.Minute {
			b.Fatalf("only %d of %d jobs reached Slurm", d.Metrics().Started.Load(), b.N)
		}
		time.Sleep(2 * time.Millisecond)
	}
	through := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/through.Seconds(), "gf-jobs/s")
	b.ReportMetric(float64(b.N)/direct.Seconds(), "direct-jobs/s")
	b.ReportMetric(float64(through-direct)/float64(b.N)/1e3, "overhead-µs/job")
	if testing.Verbose() {
		fmt.Printf("through gf %v, direct %v for %d jobs\n", through, direct, b.N)
	}
}
