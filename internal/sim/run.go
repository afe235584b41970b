package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/trace"
	"gopkg.in/yaml.v3"
)

// Options is one `gf simulate` run.
type Options struct {
	Context  context.Context // a replay stops with its error when it is done; nil = never
	Mode     string          // "replay" (default) or "placement"
	Trace    string          // --trace: philly:PATH, csv:PATH, openb:NODES,PODS
	Strict   bool            // bad trace rows are fatal
	Network  string          // name for the summary ("eu", a file, "philly-scale")
	Sites    []core.Site
	Policies []string
	Seeds    []uint64 // placement: one run per seed; replay: Seeds[0] seeds synthesis

	// Placement mode.
	Demand float64

	// Replay mode.
	Scenario *Scenario
	Horizon  time.Duration // 0 = until the last job ends
	Tick     time.Duration // scheduling passes at most once per Tick (ReplayConfig.Tick)
	Classes  Classes
	// Synthesis: when Multiplier or Load is set, jobs are drawn from the
	// trace's mix (SynthConfig) instead of replayed as they are.
	Multiplier      float64
	Load            float64 // target offered load of the trace mix (0.9); overrides Multiplier
	Span            time.Duration
	MoonshotsPerDay float64
	MaxJobs         int
	// Broker routes jobs through the federation broker in the alternative
	// policies (ReplayConfig.Broker); live always does.
	Broker bool
	// Engine is the operator's engine configuration (the config file's
	// scheduler section) that the live and lean policies run; nil =
	// engine.DefaultConfig(), as `gf serve` without one.
	Engine *engine.Config

	Out           string // directory; "" = write nothing
	NoJobsCSV     bool   // skip jobs.csv (runs of millions of jobs)
	Deterministic bool   // zero the wall-clock figures in summary.json
	Clock         func() time.Time
	Progress      func(policy string, frac float64)
}

// Scenario is a replay scenario file (YAML or JSON):
//
//	horizon_s: 2592000          # optional: stop after 30 days
//	outages:
//	  - {site: lumi-aif, at_s: 86400, for_s: 43200}
type Scenario struct {
	HorizonS float64  `yaml:"horizon_s"`
	Outages  []Outage `yaml:"outages"`
}

// LoadScenario reads a scenario file; unknown keys are errors.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil && err != io.EOF {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	for i := range s.Outages {
		o := &s.Outages[i]
		if o.Site == "" || o.AtS < 0 || o.ForS < 0 {
			return nil, fmt.Errorf("scenario %s: outages[%d]: want site, at_s >= 0, for_s >= 0", path, i)
		}
		o.At = time.Duration(o.AtS * float64(time.Second))
		o.For = time.Duration(o.ForS * float64(time.Second))
	}
	return &s, nil
}

// Summary is summary.json.
type Summary struct {
	Mode    string   `json:"mode"`
	Trace   string   `json:"trace"`
	Network string   `json:"network"`
	Seeds   []uint64 `json:"seeds"`
	// Jobs is the number of jobs (pods in placement mode) one policy saw.
	Jobs        int     `json:"jobs"`
	SkippedRows int     `json:"skipped_rows"`
	WallSeconds float64 `json:"wall_seconds"` // 0 with --deterministic
	// AllocationRatio is the gigafactory policy's mean allocation ratio in
	// placement mode (the first policy's when it did not run); null in
	// replay mode.
	AllocationRatio         *float64           `json:"allocation_ratio"`
	AllocationRatioByPolicy map[string]float64 `json:"allocation_ratio_by_policy,omitempty"`
	Capacity                int                `json:"capacity_accelerators"`
	Workload                *MixStats          `json:"workload,omitempty"`
	Calibration             *Calibration       `json:"calibration,omitempty"`
	Assumptions             []string           `json:"assumptions"`
	Policies                []*PolicyResult    `json:"policies,omitempty"`
	Placement               []PlacementResult  `json:"placement,omitempty"`
	BadRows                 []string           `json:"bad_rows,omitempty"` // the first few, with line numbers
}

// Run runs a simulation and writes its outputs to opts.Out.
func Run(opts Options) (*Summary, error) {
	var t0 time.Time
	if opts.Clock != nil {
		t0 = opts.Clock()
	}
	var sum *Summary
	var err error
	switch opts.Mode {
	case "placement":
		sum, err = runPlacement(opts)
	case "", "replay":
		sum, err = runReplay(opts)
	default:
		return nil, fmt.Errorf("unknown mode %q (replay, placement)", opts.Mode)
	}
	if err != nil {
		return nil, err
	}
	if opts.Clock != nil {
		sum.WallSeconds = opts.Clock().Sub(t0).Seconds()
	}
	if opts.Out != "" {
		if err := writeOutputs(opts, sum); err != nil {
			return nil, err
		}
	}
	return sum, nil
}

func runPlacement(opts Options) (*Summary, error) {
	kind, arg, _ := strings.Cut(opts.Trace, ":")
	nodesPath, podsPath, ok := strings.Cut(arg, ",")
	if kind != "openb" || !ok {
		return nil, fmt.Errorf("placement mode needs --trace openb:NODES_CSV,PODS_CSV")
	}
	topts := trace.Options{Strict: opts.Strict}
	nodes, nbad, err := trace.OpenNodes(nodesPath, topts)
	if err != nil {
		return nil, err
	}
	src, err := trace.OpenPods(podsPath, topts)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var pods []trace.Job
	for {
		j, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		pods = append(pods, j)
	}
	pols := opts.Policies
	if len(pols) == 0 {
		pols = []string{PlaceBestFit, PlaceGigafactory}
	}
	seeds := opts.Seeds
	if len(seeds) == 0 {
		seeds = []uint64{42}
	}
	demand := opts.Demand
	if demand <= 0 {
		demand = 1.3
	}
	res, err := RunPlacement(PlacementConfig{Nodes: nodes, Pods: pods, Demand: demand, Seeds: seeds, Policies: pols})
	if err != nil {
		return nil, err
	}
	gpus := 0
	for _, n := range nodes {
		gpus += n.GPUs
	}
	sum := &Summary{
		Mode: "placement", Trace: opts.Trace, Network: nodesPath, Seeds: seeds, Capacity: gpus,
		SkippedRows: nbad.Count + src.Bad().Count, Placement: res, AllocationRatioByPolicy: map[string]float64{},
		Assumptions: []string{
			fmt.Sprintf("FGD artifact protocol: pods drawn with replacement from the list until the next would push requests past %.0f%% of the cluster's accelerators, then shuffled; no departures", demand*100),
			"allocation_ratio = accelerator thousandths allocated / cluster accelerators, mean over seeds",
		},
	}
	if len(res) > 0 && len(res[0].Seeds) > 0 {
		sum.Jobs = res[0].Seeds[0].Pods
	}
	for _, e := range append(nbad.Sample, src.Bad().Sample...) {
		sum.BadRows = append(sum.BadRows, e.Error())
	}
	for _, r := range res {
		sum.AllocationRatioByPolicy[r.Policy] = round6(r.AllocationRatio)
	}
	ar := round6(res[0].AllocationRatio)
	if v, ok := sum.AllocationRatioByPolicy[PlaceGigafactory]; ok {
		ar = v
	}
	sum.AllocationRatio = &ar
	return sum, nil
}

func runReplay(opts Options) (*Summary, error) {
	if len(opts.Sites) == 0 {
		return nil, fmt.Errorf("replay needs a network (--network eu|FILE)")
	}
	src, err := trace.Open(opts.Trace, trace.Options{Strict: opts.Strict})
	if err != nil {
		return nil, err
	}
	classes := opts.Classes
	if classes == nil {
		classes = DefaultClasses
	}
	base, err := LoadTrace(src, classes)
	src.Close()
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", opts.Trace, err)
	}
	if len(base) == 0 {
		return nil, fmt.Errorf("trace %s: no jobs", opts.Trace)
	}
	bad := src.Bad()
	capacity := 0
	for _, s := range opts.Sites {
		capacity += s.Totals()
	}
	seed := uint64(1)
	if len(opts.Seeds) > 0 {
		seed = opts.Seeds[0]
	}
	sum := &Summary{
		Mode: "replay", Trace: opts.Trace, Network: opts.Network, Seeds: []uint64{seed},
		SkippedRows: bad.Count, Capacity: capacity,
		Assumptions: []string{
			"virtual time; the engine (internal/engine) makes every decision, as in the live daemon",
			fmt.Sprintf("scheduling passes at most once per %v of virtual time", opts.Tick),
			fmt.Sprintf("tenant -> organisation class by a stable hash of the tenant name, shares %s", classesString(classes)),
		},
	}
	for _, e := range bad.Sample {
		sum.BadRows = append(sum.BadRows, e.Error())
	}
	if strings.HasPrefix(opts.Trace, "philly:") {
		for i := range base {
			base[i].Checkpointable = PhillyCheckpointable
		}
		sum.Assumptions = append(sum.Assumptions, PhillyCheckpointableNote)
		if pub, err := PublishedStats("Philly"); err == nil {
			sum.Calibration = &Calibration{Published: pub, Workload: StatsOf(base),
				Note: "the job table keeps one record per job; the published figures count every GPU job (112,956) including failed and cancelled attempts, hence twice the GPU-seconds"}
		}
	}
	synth := opts.Multiplier > 0 || opts.Load > 0 || opts.MoonshotsPerDay > 0
	mult := opts.Multiplier
	if opts.Load > 0 {
		mult = MultiplierFor(base, capacity, opts.Load)
	}
	if mult <= 0 {
		mult = 1
	}
	orgKind := map[string]string{}
	newStream := func() (Stream, error) {
		if !synth {
			for _, a := range base {
				orgKind[a.Tenant] = a.Class
			}
			return NewSliceStream(base), nil
		}
		sy, err := NewSynth(SynthConfig{
			Base: base, Multiplier: mult, Span: opts.Span, Seed: seed, Classes: classes,
			MoonshotsPerDay: opts.MoonshotsPerDay, MaxJobs: opts.MaxJobs,
		})
		if err != nil {
			return nil, err
		}
		orgKind = sy.TenantClasses()
		return sy, nil
	}
	if synth {
		st := StatsOf(base)
		sum.Workload = &st
		sum.Assumptions = append(sum.Assumptions, fmt.Sprintf(
			"synthesised: jobs drawn with replacement from the trace's %d jobs (size, duration, tenant), Poisson arrivals at %.4g x the trace's rate, tenants split %d ways; %.3g moonshots/day of 4,096-65,536 accelerators lasting 1-7 days; seed %d",
			len(base), mult, min(int(max(1, mult+0.999999)), MaxTenantCopies), opts.MoonshotsPerDay, seed))
	} else {
		st := StatsOf(base)
		sum.Workload = &st
		sum.Assumptions = append(sum.Assumptions, "trace replayed as recorded: submit times shifted so the first job arrives at 0; a job's run time is its recorded duration")
	}
	sum.Assumptions = append(sum.Assumptions,
		"policy live: what `gf serve` runs (its engine configuration, site default walltimes planned and enforced, the federation broker routing each job as serve does); jobs on a site that goes down are requeued and routed again",
		"routing without the broker (lean; fifo, backfill, gigafactory unless --broker): the engine places each job in any eligible pool of the network; jobs on a site that goes down fail, or wait again if preemptible",
		"each policy's configuration is in its config field")
	horizon := opts.Horizon
	var outages []Outage
	if opts.Scenario != nil {
		outages = opts.Scenario.Outages
		if horizon == 0 && opts.Scenario.HorizonS > 0 {
			horizon = time.Duration(opts.Scenario.HorizonS * float64(time.Second))
		}
	}
	if horizon == 0 && synth && opts.Span > 0 {
		horizon = opts.Span
	}
	pols := opts.Policies
	if len(pols) == 0 {
		pols = []string{PolicyLive}
	}
	perNode := 8
	for _, s := range opts.Sites {
		for _, p := range s.Pools {
			perNode = max(perNode, p.AccelPerNode)
		}
	}
	mix := MixOfArrivals(base, perNode)
	for i, pol := range pols {
		stream, err := newStream()
		if err != nil {
			return nil, err
		}
		var jobsOut io.Writer
		var flush func() error
		if opts.Out != "" && !opts.NoJobsCSV {
			name := "jobs.csv"
			if i > 0 {
				name = "jobs-" + pol + ".csv"
			}
			if err := os.MkdirAll(opts.Out, 0o755); err != nil {
				return nil, err
			}
			f, err := os.Create(filepath.Join(opts.Out, name))
			if err != nil {
				return nil, err
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			bw.WriteString(JobsHeader)
			jobsOut = bw
			flush = func() error {
				if err := bw.Flush(); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}
		}
		var progress func(time.Duration)
		if opts.Progress != nil {
			total := horizon
			if total == 0 && len(base) > 0 {
				total = base[len(base)-1].Submit
			}
			progress = func(now time.Duration) {
				if total > 0 {
					opts.Progress(pol, min(1, now.Seconds()/total.Seconds()))
				}
			}
		}
		// About 400 samples over the run: the horizon, or the trace's
		// arrivals plus the longest job.
		sampleSpan := horizon
		if sampleSpan == 0 {
			var longest time.Duration
			for _, a := range base {
				longest = max(longest, a.Duration)
			}
			sampleSpan = base[len(base)-1].Submit + longest
		}
		res, err := Replay(ReplayConfig{
			Sample: max(sampleSpan/400, time.Minute),
			Policy: pol, Sites: opts.Sites, Jobs: stream, Outages: outages, Horizon: horizon, OrgKind: orgKind, Tick: opts.Tick, Mix: mix,
			JobsOut: jobsOut, Progress: progress, Clock: opts.Clock, Broker: opts.Broker, Engine: opts.Engine, Fast: true,
			Context: opts.Context,
		})
		if flush != nil {
			if ferr := flush(); ferr != nil && err == nil {
				err = ferr
			}
		}
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", pol, err)
		}
		res.SkippedRows = bad.Count
		sum.Policies = append(sum.Policies, res)
	}
	sum.Jobs = sum.Policies[0].Jobs
	return sum, nil
}

func classesString(cs Classes) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%.2f", c.Class, c.Share))
	}
	return strings.Join(parts, ",")
}

// Timing is timing.json: the wall-clock figures, which differ run to run.
type Timing struct {
	WallSeconds float64            `json:"wall_seconds"`
	Policies    map[string]float64 `json:"policy_wall_seconds,omitempty"`
	EventsPerS  map[string]float64 `json:"events_per_second,omitempty"`
}

// writeOutputs writes summary.json, timing.json, the time series, and
// report.html into opts.Out (jobs.csv is written while the replay runs).
func writeOutputs(opts Options, sum *Summary) error {
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return err
	}
	tm := Timing{WallSeconds: sum.WallSeconds, Policies: map[string]float64{}, EventsPerS: map[string]float64{}}
	for _, p := range sum.Policies {
		tm.Policies[p.Policy] = p.WallSeconds
		tm.EventsPerS[p.Policy] = p.EventsPerSecond
	}
	if err := writeJSON(filepath.Join(opts.Out, "timing.json"), tm); err != nil {
		return err
	}
	out := *sum
	if opts.Deterministic {
		out.WallSeconds = 0
		out.Policies = nil
		for _, p := range sum.Policies {
			q := *p
			q.WallSeconds, q.EventsPerSecond = 0, 0
			out.Policies = append(out.Policies, &q)
		}
	}
	if err := writeJSON(filepath.Join(opts.Out, "summary.json"), out); err != nil {
		return err
	}
	if len(sum.Policies) > 0 {
		if err := writeSeries(filepath.Join(opts.Out, "timeseries.csv"), sum.Policies); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := Report(&buf, &out); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(opts.Out, "report.html"), buf.Bytes(), 0o644)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeSeries writes timeseries.csv: policy,t_s,site,utilisation,
// running_jobs,queued_jobs; site "*" is the whole network (the only row
// with a queue: jobs wait for the network, not for a site).
func writeSeries(path string, pols []*PolicyResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("policy,t_s,site,utilisation,running_jobs,queued_jobs\n")
	for _, p := range pols {
		for _, r := range p.series {
			site := r.Site
			if site == "" {
				site = "*"
			}
			fmt.Fprintf(w, "%s,%g,%s,%.4f,%d,%d\n", p.Policy, r.T.Seconds(), site, r.Utilisation, r.Running, r.Queued)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
