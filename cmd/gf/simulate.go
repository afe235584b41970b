package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sim"
)

// simulateFlags are gf simulate's own flags.
type simulateFlags struct {
	mode, trace, network, policy, seeds, scenario, classes, out, cpuProfile string
	// config is a federation config FILE whose scheduler section the
	// replay runs (config.Config.Engine, as gf serve --config does).
	config string
	// networkSet: --network was given (else --config's sites are the network).
	networkSet                               bool
	demand, multiplier, load, moonshots      float64
	horizon, span, tick                      time.Duration
	maxJobs                                  int
	strict, noJobsCSV, deterministic, broker bool
}

// simulateCommand is `gf simulate`: the digital twin. It replays a trace
// over a network with the engine that runs live, in virtual time, or runs
// the FGD placement experiment on the openb trace.
func simulateCommand(env *cliEnv) *cobra.Command {
	f := &simulateFlags{}
	var cmd *cobra.Command
	cmd = newCommand(env, "simulate", "replay a GPU-cluster trace over the network in virtual time, or run the openb placement experiment", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 || f.trace == "" {
			return errUsage
		}
		if err := checkOutput(env); err != nil {
			return err
		}
		f.networkSet = cmd.Flags().Changed("network")
		return runSimulate(ctx, env, f)
	})
	fs := cmd.Flags()
	fs.StringVar(&f.mode, "mode", "replay", "replay (time-driven, through the engine) or placement (FGD experiment on openb)")
	fs.StringVar(&f.trace, "trace", "", "philly:PATH, csv:PATH or openb:NODES_CSV,PODS_CSV (.gz allowed)")
	fs.StringVar(&f.network, "network", "eu", "replay: eu (built-in reference network), philly (a Philly-scale cluster, 2,488 GPUs), philly:GPUS (the same with GPUS GPUs) or a federation config FILE")
	fs.StringVar(&f.config, "config", "", "replay: federation config FILE: its scheduler section configures the engine exactly as gf serve --config FILE does, and its sites are the network unless --network is given")
	fs.StringVar(&f.policy, "policy", "", "comma-separated policies side by side: replay live (default: what gf serve runs, broker and engine configuration), lean (live's engine without the broker), fifo, backfill, tiresias (2D-LAS reference), gigafactory (fragmentation-aware placement); placement bestfit,fgd,gigafactory (default bestfit,gigafactory)")
	fs.StringVar(&f.seeds, "seeds", "42", "seed, list (1,2,3) or range (42-51); placement runs each and reports the mean, replay seeds synthesis with the first")
	fs.Float64Var(&f.demand, "demand", 1.3, "placement: place pods until requests reach this multiple of the cluster's accelerators")
	fs.StringVar(&f.scenario, "scenario", "", "replay: scenario FILE (YAML: horizon_s, outages: [{site, at_s, for_s}])")
	fs.DurationVar(&f.tick, "tick", time.Second, "replay: at most one scheduling pass per this much virtual time (0 = one per distinct event time)")
	fs.DurationVar(&f.horizon, "horizon", 0, "replay: stop after this much simulated time (0 = when the last job ends)")
	fs.Float64Var(&f.multiplier, "multiplier", 0, "replay: synthesise jobs from the trace's mix at this multiple of its arrival rate")
	fs.Float64Var(&f.load, "load", 0, "replay: synthesise at the arrival rate that offers this load (0.9 = 90%) of the network (overrides --multiplier)")
	fs.DurationVar(&f.span, "span", 30*24*time.Hour, "replay with synthesis: simulated time to generate jobs for")
	fs.Float64Var(&f.moonshots, "moonshots", 0, "replay: moonshot jobs per simulated day (4,096-65,536 accelerators, 1-7 days)")
	fs.IntVar(&f.maxJobs, "max-jobs", 0, "replay with synthesis: stop after this many jobs (0 = no limit)")
	fs.StringVar(&f.classes, "classes", "", "tenant -> organisation class shares, e.g. research=0.4,industry=0.2,startup=0.2,sme=0.15,public=0.05")
	fs.StringVar(&f.out, "out", "sim-out", "output directory: summary.json, timing.json, jobs.csv, timeseries.csv, report.html")
	fs.BoolVar(&f.broker, "broker", false, "replay: put the federation broker in front of the alternative policies fifo, backfill and gigafactory (live always has it, lean never)")
	fs.BoolVar(&f.strict, "strict", false, "stop at the first bad trace row (default: skip, count and report them)")
	fs.BoolVar(&f.noJobsCSV, "no-jobs-csv", false, "do not write jobs.csv (runs of millions of jobs)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to FILE (go tool pprof FILE)")
	fs.BoolVar(&f.deterministic, "deterministic", false, "leave wall-clock figures out of summary.json (they stay in timing.json) so the same seed gives the same bytes")
	return cmd
}

// simGCPercent and simMemoryLimit tune the collector for a replay: a
// batch job whose heap is mostly long-lived job records. Collecting each
// time the heap doubles spent 27% of a 30-day EU replay's CPU in the
// collector; letting the heap grow to five times the live one, under a
// soft limit of 1.75 GiB (the twin's memory budget is 2 GiB), took the
// run from 266 s to 187 s (peak RSS 0.86 -> 1.76 GB). GOGC or GOMEMLIMIT
// in the environment override both.
const (
	simGCPercent   = 400
	simMemoryLimit = 1792 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(simGCPercent)
	debug.SetMemoryLimit(simMemoryLimit)
}

func runSimulate(ctx context.Context, env *cliEnv, f *simulateFlags) error {
	seeds, err := parseSeeds(f.seeds)
	if err != nil {
		return err
	}
	opts := sim.Options{
		Mode: f.mode, Trace: f.trace, Strict: f.strict, Seeds: seeds, Demand: f.demand,
		Horizon: f.horizon, Tick: f.tick, Multiplier: f.multiplier, Load: f.load, MoonshotsPerDay: f.moonshots,
		MaxJobs: f.maxJobs, Broker: f.broker, Out: f.out, NoJobsCSV: f.noJobsCSV, Deterministic: f.deterministic,
		Clock: time.Now, Context: ctx,
	}
	if f.policy != "" {
		opts.Policies = strings.Split(f.policy, ",")
	}
	if f.multiplier > 0 || f.load > 0 || f.moonshots > 0 {
		opts.Span = f.span
	}
	if f.classes != "" {
		if opts.Classes, err = sim.ParseClasses(f.classes); err != nil {
			return err
		}
	}
	if f.config != "" && f.mode == "placement" {
		return fmt.Errorf("--config: the placement experiment runs fixed policies; --config is for --mode replay")
	}
	if f.mode != "placement" {
		opts.Network = f.network
		if f.config != "" {
			cfg, err := config.Load(f.config)
			if err != nil {
				return err
			}
			ec, err := cfg.Engine()
			if err != nil {
				return err
			}
			opts.Engine = &ec
			if !f.networkSet {
				opts.Network, opts.Sites = f.config, cfg.Sites
			}
		}
		if opts.Sites == nil {
			if opts.Sites, err = loadNetwork(f.network); err != nil {
				return err
			}
		}
		if f.scenario != "" {
			if opts.Scenario, err = sim.LoadScenario(f.scenario); err != nil {
				return err
			}
		}
	}
	if tty, ok := env.stderr.(*os.File); ok && term.IsTerminal(int(tty.Fd())) {
		opts.Progress = progressBar(tty)
		defer fmt.Fprint(tty, "\r\033[K")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tuneGC()
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	sum, err := sim.Run(opts)
	if err != nil {
		return err
	}
	// -o json|yaml writes the summary itself (as summary.json has it).
	return emit(env, sum, func(w io.Writer) error {
		printSummary(w, sum)
		_, err := fmt.Fprintf(w, "wrote %s/summary.json and report.html\n", f.out)
		return err
	})
}

// loadNetwork resolves --network.
func loadNetwork(name string) ([]core.Site, error) {
	switch name {
	case "eu":
		return config.EU().Sites, nil
	case "philly":
		return sim.PhillyCluster(), nil
	}
	if n, ok := strings.CutPrefix(name, "philly:"); ok {
		gpus, err := strconv.Atoi(n)
		if err != nil || gpus < 8 {
			return nil, fmt.Errorf("--network philly:GPUS: want a number of GPUs (at least 8), got %q", n)
		}
		return sim.PhillyClusterOf(gpus), nil
	}
	c, err := config.Load(name)
	if err != nil {
		return nil, err
	}
	return c.Sites, nil
}

// parseSeeds reads "42", "1,2,3" or "42-51".
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds: %q is not a seed, list or range", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a || b-a > 10000 {
				return nil, fmt.Errorf("--seeds: bad range %q", part)
			}
		}
		for x := a; x <= b; x++ {
			out = append(out, x)
		}
	}
	return out, nil
}

// progressBar draws one line on a terminal: policy, bar, percentage.
func progressBar(tty *os.File) func(policy string, frac float64) {
	last := -1
	return func(policy string, frac float64) {
		pct := int(frac * 100)
		if pct == last {
			return
		}
		last = pct
		const width = 40
		n := int(frac * width)
		fmt.Fprintf(tty, "\r%-12s [%s%s] %3d%%", policy, strings.Repeat("#", n), strings.Repeat(".", width-n), pct)
	}
}

func printSummary(w io.Writer, s *sim.Summary) {
	if s.Mode == "placement" {
		fmt.Fprintf(w, "placement on %s, %d pods per seed, seeds %v\n", s.Network, s.Jobs, s.Seeds)
		for _, r := range s.Placement {
			fmt.Fprintf(w, "  %-12s allocation_ratio %.2f%%\n", r.Policy, 100*r.AllocationRatio)
		}
		return
	}
	fmt.Fprintf(w, "replay of %s on %s (%d accelerators): %d jobs, %d skipped rows, %.1f s wall\n",
		s.Trace, s.Network, s.Capacity, s.Jobs, s.SkippedRows, s.WallSeconds)
	fmt.Fprintf(w, "  %-12s %9s %9s %10s %10s %10s %10s %10s %7s %12s\n", "policy", "util", "load", "wait mean", "wait p50", "wait p99", "JCT mean", "bsld", "jain", "events/s")
	for _, p := range s.Policies {
		fmt.Fprintf(w, "  %-12s %8.1f%% %8.1f%% %9.0fs %9.0fs %9.0fs %9.0fs %10.2f %7.3f %12.0f\n", p.Policy, 100*p.Utilisation, 100*p.OfferedLoad,
			p.Wait.Mean, p.Wait.P50, p.Wait.P99, p.JCT.Mean, p.BoundedSlowdown, p.JainTenants, p.EventsPerSecond)
	}
}
