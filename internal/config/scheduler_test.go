package config

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// engineOf parses site plus a scheduler section (its lines start at 11)
// and returns what Engine makes of it.
func engineOf(t *testing.T, section string) (engine.Config, error) {
	t.Helper()
	c, err := Parse("cfg.yaml", []byte(site+section))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c.Engine()
}

// TestEngineDefault is the golden test: no section, an empty one, a null
// one and a nil Config all give engine.DefaultConfig() exactly.
func TestEngineDefault(t *testing.T) {
	for name, section := range map[string]string{
		"absent": "",
		"null":   "scheduler:\n",
		"empty":  "scheduler: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := engineOf(t, section)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(engine.DefaultConfig(), got); diff != "" {
				t.Errorf("Engine() differs from engine.DefaultConfig() (-want +got):\n%s", diff)
			}
		})
	}
	var nilCfg *Config
	got, err := nilCfg.Engine()
	if err != nil || !cmp.Equal(engine.DefaultConfig(), got) {
		t.Errorf("(*Config)(nil).Engine() = %+v, %v; want DefaultConfig", got, err)
	}
}

// TestEngineKeys sets every key and checks the one field it changes; the
// rest must stay engine.DefaultConfig()'s.
func TestEngineKeys(t *testing.T) {
	tests := map[string]struct {
		section string
		edit    func(c *engine.Config) // applied to DefaultConfig: the want
	}{
		"priority.age":           {"scheduler:\n  priority: {age: 7}\n", func(c *engine.Config) { c.Priority.AgeWeight = 7 }},
		"priority.fairshare":     {"scheduler:\n  priority: {fairshare: 0}\n", func(c *engine.Config) { c.Priority.FairShareWeight = 0 }},
		"priority.qos":           {"scheduler:\n  priority: {qos: 2.5}\n", func(c *engine.Config) { c.Priority.QoSWeight = 2.5 }},
		"priority.size":          {"scheduler:\n  priority: {size: 100000}\n", func(c *engine.Config) { c.Priority.SizeWeight = 100000 }},
		"priority.max_age slurm": {"scheduler:\n  priority: {max_age: 14-00:00:00}\n", func(c *engine.Config) { c.Priority.MaxAge = 14 * 24 * time.Hour }},
		"priority.max_age go":    {"scheduler:\n  priority: {max_age: 36h}\n", func(c *engine.Config) { c.Priority.MaxAge = 36 * time.Hour }},
		"priority.qos_factors": {"scheduler:\n  priority:\n    qos_factors: {playground: 0, normal: 0.5}\n", func(c *engine.Config) {
			c.Priority.QoS = maps.Clone(sched.DefaultQoSFactors)
			c.Priority.QoS[core.QoSPlayground] = 0
			c.Priority.QoS[core.QoSNormal] = 0.5
			c.Priority.QoS[""] = 0.5
		}},
		"priority.class":             {"scheduler:\n  priority: {class: 0}\n", func(c *engine.Config) { c.Priority.ClassWeight = 0 }},
		"priority.attained":          {"scheduler:\n  priority: {attained: 5000}\n", func(c *engine.Config) { c.Priority.AttainedWeight = 5000 }},
		"priority.attained_queues":   {"scheduler:\n  priority: {attained_queues: [600, 6000, 60000]}\n", func(c *engine.Config) { c.Priority.LAS.Thresholds = []float64{600, 6000, 60000} }},
		"priority.attained_queues 1": {"scheduler:\n  priority: {attained_queues: []}\n", func(c *engine.Config) { c.Priority.LAS.Thresholds = []float64{} }},
		"priority.starvation_factor": {"scheduler:\n  priority: {starvation_factor: 0}\n", func(c *engine.Config) { c.Priority.LAS.StarvationFactor = 0 }},
		"priority.starvation_cap":    {"scheduler:\n  priority: {starvation_cap: 2h}\n", func(c *engine.Config) { c.Priority.LAS.StarvationCap = 2 * time.Hour }},
		"preemption.attained":        {"scheduler:\n  preemption: {attained: false}\n", func(c *engine.Config) { c.Preemption.Attained = false }},
		"fairshare.half_life":        {"scheduler:\n  fairshare: {half_life: 72h}\n", func(c *engine.Config) { c.FairShare.HalfLife = 72 * time.Hour }},
		"fairshare.class_shares": {"scheduler:\n  fairshare:\n    class_shares: {research: 50, public: 10}\n", func(c *engine.Config) {
			c.FairShare.ClassShares = map[string]float64{sched.ClassResearch: 50, sched.ClassSME: 20, sched.ClassIndustry: 20, sched.ClassPublic: 10}
		}},
		"backfill_depth":      {"scheduler:\n  backfill_depth: 64\n", func(c *engine.Config) { c.BackfillDepth = 64 }},
		"backfill_depth 0":    {"scheduler:\n  backfill_depth: 0\n", func(c *engine.Config) { c.BackfillDepth = 0 }},
		"priority_interval":   {"scheduler:\n  priority_interval: 5m\n", func(c *engine.Config) { c.PriorityInterval = 5 * time.Minute }},
		"priority_interval 0": {"scheduler:\n  priority_interval: 0s\n", func(c *engine.Config) { c.PriorityInterval = 0 }},
		"default_walltime":    {"scheduler:\n  default_walltime: 2:00:00\n", func(c *engine.Config) { c.DefaultWalltime = 2 * time.Hour }},
		"placement best-fit":  {"scheduler:\n  placement: best-fit\n", func(c *engine.Config) {}},
		"placement fragmentation-aware": {"scheduler:\n  placement: fragmentation-aware\n", func(c *engine.Config) {
			c.Fragmentation = engine.DefaultFragmentationMix()
		}},
		"fragmentation_candidates": {"scheduler:\n  fragmentation_candidates: 16\n", func(c *engine.Config) { c.FragmentationCandidates = 16 }},
		"preemption.enabled":       {"scheduler:\n  preemption: {enabled: false}\n", func(c *engine.Config) { c.Preemption.Enabled = false }},
		"preemption.min_runtime":   {"scheduler:\n  preemption: {min_runtime: 30m}\n", func(c *engine.Config) { c.Preemption.MinRuntime = 30 * time.Minute }},
		"preemption.min_runtime 0": {"scheduler:\n  preemption: {min_runtime: 0}\n", func(c *engine.Config) { c.Preemption.MinRuntime = 0 }},
		"preemption.grace":         {"scheduler:\n  preemption: {grace: 90s}\n", func(c *engine.Config) { c.Preemption.Grace = 90 * time.Second }},
		"preemption.signal":        {"scheduler:\n  preemption: {signal: SIGTERM}\n", func(c *engine.Config) { c.Preemption.Signal = "SIGTERM" }},
		"preemption.tiers": {"scheduler:\n  preemption:\n    tiers: {normal: 2, fast-lane: 5}\n", func(c *engine.Config) {
			c.Preemption.Tiers = maps.Clone(engine.DefaultTiers)
			c.Preemption.Tiers[core.QoSNormal] = 2
			c.Preemption.Tiers[""] = 2
			c.Preemption.Tiers[core.QoSFastLane] = 5
		}},
		"quotas.project_accelerators": {"scheduler:\n  quotas:\n    project_accelerators: {climate: 4096}\n", func(c *engine.Config) {
			c.Quotas.ProjectAccelerators = map[string]int{"climate": 4096}
		}},
		"quotas.class_accelerators": {"scheduler:\n  quotas:\n    class_accelerators: {industry: 20000}\n", func(c *engine.Config) {
			c.Quotas.ClassAccelerators = map[string]int{sched.ClassIndustry: 20000}
		}},
		"quotas.project_budget_hours": {"scheduler:\n  quotas:\n    project_budget_hours: {climate: 1.5e6}\n", func(c *engine.Config) {
			c.Quotas.ProjectBudgetHours = map[string]float64{"climate": 1.5e6}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := engineOf(t, tc.section)
			if err != nil {
				t.Fatal(err)
			}
			want := engine.DefaultConfig()
			tc.edit(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestEngineErrors: unknown keys and bad values are errors naming
// file:line and the field.
func TestEngineErrors(t *testing.T) {
	tests := map[string]struct {
		section string
		want    []string
	}{
		"unknown key": {"scheduler:\n  policy: fair-share\n",
			[]string{`cfg.yaml:12: scheduler.policy: unknown field "policy"`}},
		"misspelt key": {"scheduler:\n  backfil_depth: 3\n",
			[]string{`cfg.yaml:12: scheduler.backfil_depth: unknown field "backfil_depth"; did you mean "backfill_depth"?`}},
		"unknown nested key": {"scheduler:\n  preemption:\n    min_runtme: 5m\n",
			[]string{`cfg.yaml:13: scheduler.preemption.min_runtme: unknown field "min_runtme"; did you mean "min_runtime"?`}},
		"not a mapping": {"scheduler: fair\n",
			[]string{`cfg.yaml:11: scheduler: want a mapping`}},
		"section not a mapping": {"scheduler:\n  priority: 5\n",
			[]string{`cfg.yaml:12: scheduler.priority: want a mapping with age, fairshare`}},
		"negative weight": {"scheduler:\n  priority: {age: -1}\n",
			[]string{`cfg.yaml:12: scheduler.priority.age: must not be negative, got -1`}},
		"weight not a number": {"scheduler:\n  priority: {qos: high}\n",
			[]string{`cfg.yaml:12: scheduler.priority.qos:`}},
		"bare number duration": {"scheduler:\n  fairshare: {half_life: 7}\n",
			[]string{`cfg.yaml:12: scheduler.fairshare.half_life: ambiguous walltime "7"`}},
		"bad duration": {"scheduler:\n  preemption: {min_runtime: soon}\n",
			[]string{`cfg.yaml:12: scheduler.preemption.min_runtime: want a duration like 1h30m`}},
		"attained queues not ascending": {"scheduler:\n  priority:\n    attained_queues: [3600, 600]\n",
			[]string{`cfg.yaml:13: scheduler.priority.attained_queues[1]: must be above the bound before it (3600), got 600`}},
		"attained queue not positive": {"scheduler:\n  priority:\n    attained_queues: [0]\n",
			[]string{`cfg.yaml:13: scheduler.priority.attained_queues[0]: must be at least 1, got 0`}},
		"attained queues not a list": {"scheduler:\n  priority: {attained_queues: 3600}\n",
			[]string{`cfg.yaml:12: scheduler.priority.attained_queues: want a list of accelerator-seconds, ascending`}},
		"zero grace": {"scheduler:\n  preemption: {grace: 0s}\n",
			[]string{`cfg.yaml:12: scheduler.preemption.grace: must be positive, got 0s`}},
		"unknown class": {"scheduler:\n  fairshare:\n    class_shares: {reserch: 40}\n",
			[]string{`cfg.yaml:13: scheduler.fairshare.class_shares.reserch: unknown name "reserch"; did you mean "research"?`}},
		"unknown qos tier": {"scheduler:\n  preemption:\n    tiers: {urgent: 9}\n",
			[]string{`cfg.yaml:13: scheduler.preemption.tiers.urgent: unknown name "urgent"`}},
		"fractional tier": {"scheduler:\n  preemption:\n    tiers: {normal: 1.5}\n",
			[]string{`cfg.yaml:13: scheduler.preemption.tiers.normal: want a whole number, got 1.5`}},
		"qos factor above 1": {"scheduler:\n  priority:\n    qos_factors: {normal: 2}\n",
			[]string{`cfg.yaml:13: scheduler.priority.qos_factors.normal: must be at most 1, got 2`}},
		"bad placement": {"scheduler:\n  placement: fgd\n",
			[]string{`cfg.yaml:12: scheduler.placement: unknown value "fgd"; want one of best-fit, fragmentation-aware`}},
		"bad signal": {"scheduler:\n  preemption: {signal: USR1}\n",
			[]string{`cfg.yaml:12: scheduler.preemption.signal: unknown value "USR1"`}},
		"bad enabled": {"scheduler:\n  preemption: {enabled: maybe}\n",
			[]string{`cfg.yaml:12: scheduler.preemption.enabled:`}},
		"negative depth": {"scheduler:\n  backfill_depth: -1\n",
			[]string{`cfg.yaml:12: scheduler.backfill_depth: must not be negative, got -1`}},
		"zero candidates": {"scheduler:\n  fragmentation_candidates: 0\n",
			[]string{`cfg.yaml:12: scheduler.fragmentation_candidates: must be positive, got 0`}},
		"zero quota": {"scheduler:\n  quotas:\n    project_accelerators: {climate: 0}\n",
			[]string{`cfg.yaml:13: scheduler.quotas.project_accelerators.climate: must be at least 1, got 0`}},
		"unknown quota class": {"scheduler:\n  quotas:\n    class_accelerators: {startup: 8}\n",
			[]string{`cfg.yaml:13: scheduler.quotas.class_accelerators.startup: unknown name "startup"`}},
		"duplicate key": {"scheduler:\n  backfill_depth: 1\n  backfill_depth: 2\n",
			[]string{`cfg.yaml:13: scheduler.backfill_depth: `}},
		"every problem at once": {"scheduler:\n  backfill_depth: -1\n  placement: fgd\n  nonsense: 1\n",
			[]string{"cfg.yaml:12: scheduler.backfill_depth", "cfg.yaml:13: scheduler.placement", "cfg.yaml:14: scheduler.nonsense"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := engineOf(t, tc.section)
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			var errs diag.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not diag.Errors: %v", err, err)
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to start %q", i, errs[i].Error(), w)
				}
			}
			if diff := cmp.Diff(engine.DefaultConfig(), got); diff != "" {
				t.Errorf("a bad section must give back the default, not a half-read config:\n%s", diff)
			}
		})
	}
}

// TestEngineExampleFile reads the example in testdata, the one the docs
// show, whole.
func TestEngineExampleFile(t *testing.T) {
	c, err := Load("testdata/federation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Engine()
	if err != nil {
		t.Fatal(err)
	}
	if got.BackfillDepth != 32 || got.Preemption.MinRuntime != 15*time.Minute || got.FairShare.ClassShares[sched.ClassResearch] != 50 ||
		len(got.Fragmentation) == 0 {
		t.Errorf("example scheduler section not applied: %+v", got)
	}
}

// TestDefaultFragmentationMix: the mix fragmentation-aware placement uses
// live is a proper distribution over whole-device requests.
func TestDefaultFragmentationMix(t *testing.T) {
	m := engine.DefaultFragmentationMix()
	if len(m) != 4 {
		t.Fatalf("mix has %d types, want 4: %+v", len(m), m)
	}
	sum := 0.0
	for _, e := range m {
		sum += e.Weight
		if e.PerDevice != 1000 || e.Model != "" {
			t.Errorf("type %+v: want whole devices of any model", e)
		}
	}
	if sum < 0.999999 || sum > 1.000001 {
		t.Errorf("weights sum to %v, want 1", sum)
	}
}
