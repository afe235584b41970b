package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// The scheduler section, key by key. Every key is optional; what is left
// out keeps engine.DefaultConfig's value.
//
//	scheduler:
//	  priority:                 # multifactor priority weights (Slurm's PriorityWeight*)
//	    age: 1000
//	    fairshare: 10000
//	    qos: 2000
//	    size: 500
//	    max_age: 7-00:00:00     # the age factor saturates here
//	    qos_factors: {fast-lane: 1, moonshot: 0.8}
//	    class: 1000000          # org class standing (fair share between classes, outermost)
//	    attained: 100000        # least attained service (Tiresias), inside a class
//	    attained_queues: [3600, 36000]  # queue bounds, accelerator-seconds, ascending
//	    starvation_factor: 2    # promote a requeued job waiting > this x its run time
//	    starvation_cap: 6h      # or waiting this long (0s = no cap)
//	  fairshare:
//	    half_life: 168h
//	    class_shares: {research: 40, sme: 20, industry: 20, public: 20}
//	  backfill_depth: 16
//	  priority_interval: 1m
//	  default_walltime: 24h
//	  placement: best-fit       # or fragmentation-aware
//	  fragmentation_candidates: 4
//	  preemption:
//	    enabled: true
//	    min_runtime: 10m
//	    grace: 5m
//	    signal: SIGUSR1
//	    tiers: {playground: 0, normal: 1, large-scale: 2, fast-lane: 3, moonshot: 3}
//	    attained: true          # preempt later attained-service queues within a tier
//	  quotas:
//	    project_accelerators: {climate: 4096}
//	    class_accelerators: {industry: 20000}
//	    project_budget_hours: {climate: 1000000}
var (
	schedulerFields = []string{"priority", "fairshare", "backfill_depth", "priority_interval", "default_walltime",
		"placement", "fragmentation_candidates", "preemption", "quotas"}
	priorityFields = []string{"age", "fairshare", "qos", "size", "max_age", "qos_factors", "class", "attained",
		"attained_queues", "starvation_factor", "starvation_cap"}
	fairShareFields  = []string{"half_life", "class_shares"}
	preemptionFields = []string{"enabled", "min_runtime", "grace", "signal", "tiers", "attained"}
	quotaFields      = []string{"project_accelerators", "class_accelerators", "project_budget_hours"}

	// Placements are the placement policies scheduler.placement names.
	Placements = []string{engine.PlacementBestFit, engine.PlacementFragmentationAware}
	// Classes are the fair-share classes (the first level of the tree).
	Classes = []string{sched.ClassResearch, sched.ClassSME, sched.ClassIndustry, sched.ClassPublic}
	// Signals are those a checkpointable job may be told to checkpoint by.
	Signals = []string{"SIGUSR1", "SIGUSR2", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGCONT"}
)

// Bounds on scheduler values; beyond them a value is surely a typo.
const (
	maxWeight        = 1e9
	maxBackfillDepth = 100_000
	maxTier          = 100
	maxShare         = 1e6
	maxCandidates    = 1024
	maxQuota         = 100_000_000
	maxBudgetHours   = 1e12
	maxQueues        = 16
	maxAttained      = 1e15 // accelerator-seconds
	maxStarvation    = 1e6
)

// Engine returns the engine configuration the config's scheduler section
// asks for: engine.DefaultConfig() with each key given overlaid. Without a
// section (or on a nil Config) it is engine.DefaultConfig() itself. On a
// bad section the error is diag.Errors holding every problem, each with
// file:line and the field ("cfg.yaml:14: scheduler.preemption.grace: ...").
// gf serve and gf simulate --config both build their engine with it.
func (c *Config) Engine() (engine.Config, error) {
	if c == nil {
		return engine.DefaultConfig(), nil
	}
	return SchedulerConfig(c.File, c.Scheduler)
}

// SchedulerConfig reads a scheduler section n (nil = absent) from file;
// see Config.Engine.
func SchedulerConfig(file string, n *yaml.Node) (engine.Config, error) {
	ec := engine.DefaultConfig()
	n = diag.Resolve(n)
	if diag.IsNull(n) {
		return ec, nil
	}
	l := &diag.List{File: file}
	if n.Kind != yaml.MappingNode {
		l.Add(n.Line, "scheduler", "want a mapping (priority, fairshare, preemption, quotas, placement, ...), got %s", diag.Describe(n))
		return ec, l.Errs
	}
	const path = "scheduler"
	for _, p := range diag.Fields(l, n, path, schedulerFields) {
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "priority":
			parsePriority(l, f, val, &ec.Priority)
		case "fairshare":
			parseFairShare(l, f, val, &ec.FairShare)
		case "backfill_depth":
			ec.BackfillDepth = count(l, f, val, 0, maxBackfillDepth)
		case "priority_interval":
			ec.PriorityInterval = duration(l, f, val, false)
		case "default_walltime":
			ec.DefaultWalltime = duration(l, f, val, true)
		case "placement":
			switch oneOf(l, f, val, Placements) {
			case engine.PlacementBestFit:
				ec.Fragmentation = nil
			case engine.PlacementFragmentationAware:
				ec.Fragmentation = engine.DefaultFragmentationMix()
			}
		case "fragmentation_candidates":
			ec.FragmentationCandidates = count(l, f, val, 1, maxCandidates)
		case "preemption":
			parsePreemption(l, f, val, &ec.Preemption)
		case "quotas":
			parseQuotas(l, f, val, &ec.Quotas)
		}
	}
	if len(l.Errs) > 0 {
		l.Errs.Sort()
		return engine.DefaultConfig(), l.Errs
	}
	return ec, nil
}

// section checks that n is a mapping and returns its known fields.
func section(l *diag.List, field string, n *yaml.Node, known []string) []diag.Pair {
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.Add(diag.Line(n), field, "want a mapping with %s, got %s", strings.Join(known, ", "), diag.Describe(n))
		return nil
	}
	return diag.Fields(l, n, field, known)
}

func parsePriority(l *diag.List, path string, n *yaml.Node, pc *sched.PriorityConfig) {
	for _, p := range section(l, path, n, priorityFields) {
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "age":
			pc.AgeWeight = number(l, f, val, 0, maxWeight)
		case "fairshare":
			pc.FairShareWeight = number(l, f, val, 0, maxWeight)
		case "qos":
			pc.QoSWeight = number(l, f, val, 0, maxWeight)
		case "size":
			pc.SizeWeight = number(l, f, val, 0, maxWeight)
		case "max_age":
			pc.MaxAge = duration(l, f, val, true)
		case "class":
			pc.ClassWeight = number(l, f, val, 0, maxWeight)
		case "attained":
			pc.AttainedWeight = number(l, f, val, 0, maxWeight)
		case "attained_queues":
			pc.LAS.Thresholds = attainedQueues(l, f, val)
		case "starvation_factor":
			pc.LAS.StarvationFactor = number(l, f, val, 0, maxStarvation)
		case "starvation_cap":
			pc.LAS.StarvationCap = duration(l, f, val, false)
		case "qos_factors":
			m := numberMap(l, f, val, QoSNames, 0, 1)
			if len(m) > 0 {
				pc.QoS = maps.Clone(sched.DefaultQoSFactors)
				maps.Copy(pc.QoS, m)
				if v, ok := m[core.QoSNormal]; ok {
					pc.QoS[""] = v // a job that names no QoS runs as normal
				}
			}
		}
	}
}

// attainedQueues decodes the attained-service queue bounds: a list of
// at most maxQueues positive, ascending accelerator-second counts ([] =
// one queue).
func attainedQueues(l *diag.List, field string, n *yaml.Node) []float64 {
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.Add(diag.Line(n), field, "want a list of accelerator-seconds, ascending, got %s", diag.Describe(n))
		return nil
	}
	if len(n.Content) > maxQueues {
		l.Add(diag.Line(n), field, "at most %d bounds, got %d", maxQueues, len(n.Content))
		return nil
	}
	out := []float64{}
	for i, c := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		v := number(l, f, diag.Resolve(c), 1, maxAttained)
		if v == 0 {
			return nil
		}
		if len(out) > 0 && v <= out[len(out)-1] {
			l.Add(diag.Line(c), f, "must be above the bound before it (%g), got %g", out[len(out)-1], v)
			return nil
		}
		out = append(out, v)
	}
	return out
}

func parseFairShare(l *diag.List, path string, n *yaml.Node, fs *sched.FairShareConfig) {
	for _, p := range section(l, path, n, fairShareFields) {
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "half_life":
			fs.HalfLife = duration(l, f, val, true)
		case "class_shares":
			if m := numberMap(l, f, val, Classes, 0, maxShare); len(m) > 0 {
				fs.ClassShares = maps.Clone(fs.ClassShares)
				maps.Copy(fs.ClassShares, m)
			}
		}
	}
}

func parsePreemption(l *diag.List, path string, n *yaml.Node, pr *engine.Preemption) {
	for _, p := range section(l, path, n, preemptionFields) {
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "enabled":
			pr.Enabled, _ = diag.Bool(l, f, val)
		case "min_runtime":
			pr.MinRuntime = duration(l, f, val, false)
		case "grace":
			// 0 would mean the engine's default, not "no grace".
			pr.Grace = duration(l, f, val, true)
		case "signal":
			pr.Signal = oneOf(l, f, val, Signals)
		case "attained":
			pr.Attained, _ = diag.Bool(l, f, val)
		case "tiers":
			if m := numberMap(l, f, val, QoSNames, 0, maxTier); len(m) > 0 {
				t := maps.Clone(engine.DefaultTiers)
				for k, v := range m {
					if v != float64(int(v)) {
						l.Add(diag.Line(val), f+"."+k, "want a whole number, got %g", v)
					}
					t[k] = int(v)
				}
				if v, ok := m[core.QoSNormal]; ok {
					t[""] = int(v) // a job that names no QoS runs as normal
				}
				pr.Tiers = t
			}
		}
	}
}

func parseQuotas(l *diag.List, path string, n *yaml.Node, q *engine.Quotas) {
	for _, p := range section(l, path, n, quotaFields) {
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "project_accelerators":
			q.ProjectAccelerators = intMap(numberMap(l, f, val, nil, 1, maxQuota), l, f, val)
		case "class_accelerators":
			q.ClassAccelerators = intMap(numberMap(l, f, val, Classes, 1, maxQuota), l, f, val)
		case "project_budget_hours":
			q.ProjectBudgetHours = numberMap(l, f, val, nil, 0, maxBudgetHours)
		}
	}
}

// numberMap decodes a mapping of name to a number in [lo, hi]; keys must be
// among allowed (nil = any non-empty name). nil for an empty mapping.
func numberMap(l *diag.List, field string, n *yaml.Node, allowed []string, lo, hi float64) map[string]float64 {
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		want := "names"
		if allowed != nil {
			want = strings.Join(allowed, ", ")
		}
		l.Add(diag.Line(n), field, "want a mapping of %s to numbers, got %s", want, diag.Describe(n))
		return nil
	}
	var out map[string]float64
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := diag.Resolve(n.Content[i]), diag.Resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode || strings.TrimSpace(k.Value) == "" {
			l.Add(diag.Line(n.Content[i]), field, "keys must be non-empty names, got %s", diag.Describe(k))
			continue
		}
		f := field + "." + k.Value
		if prev, dup := first[k.Value]; dup {
			l.Add(k.Line, f, "given twice (first at line %d)", prev)
			continue
		}
		first[k.Value] = k.Line
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			msg := fmt.Sprintf("unknown name %q; want one of %s", k.Value, strings.Join(allowed, ", "))
			if d := diag.Suggest(k.Value, allowed); d != "" {
				msg = fmt.Sprintf("unknown name %q; did you mean %q? (want one of %s)", k.Value, d, strings.Join(allowed, ", "))
			}
			l.Add(k.Line, f, "%s", msg)
			continue
		}
		n0 := len(l.Errs)
		x := number(l, f, v, lo, hi)
		if len(l.Errs) > n0 {
			continue
		}
		if out == nil {
			out = map[string]float64{}
		}
		out[k.Value] = x
	}
	return out
}

// intMap turns a numberMap of counts into ints, refusing fractions.
func intMap(m map[string]float64, l *diag.List, field string, n *yaml.Node) map[string]int {
	if m == nil {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		if v != float64(int64(v)) {
			l.Add(diag.Line(n), field+"."+k, "want a whole number, got %g", v)
			continue
		}
		out[k] = int(v)
	}
	return out
}

// duration decodes Go or Slurm duration text ("90s", "10m", "1-00:00:00").
// A bare number is refused as ambiguous, as in a walltime. positive refuses
// 0 where 0 would silently mean the engine's default.
func duration(l *diag.List, field string, n *yaml.Node, positive bool) time.Duration {
	if n == nil || n.Kind != yaml.ScalarNode || diag.IsNull(n) {
		l.Add(diag.Line(n), field, "want a duration such as 90s, 10m, 24h or 1-00:00:00, got %s", diag.Describe(n))
		return 0
	}
	if n.Value == "0" || n.Value == "0s" {
		if positive {
			l.Add(n.Line, field, "must be positive, got %s", n.Value)
		}
		return 0
	}
	d, err := spec.ParseWalltime(n.Value)
	if err != nil {
		l.Add(n.Line, field, "%v", err)
		return 0
	}
	return d
}
