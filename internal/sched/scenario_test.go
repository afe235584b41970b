package sched_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden files")

// t0 is every scenario's time zero.
var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// scenario is a scheduler scenario file: a cluster, a configuration and
// steps of events, each followed by an engine Step. The runner prints what
// the engine decided (starts, preemptions, pending jobs' reasons and
// estimated starts) and compares it with NAME.golden.
type scenario struct {
	Config struct {
		BackfillDepth    int           `yaml:"backfill_depth"`
		PriorityInterval time.Duration `yaml:"priority_interval"`
		DefaultWalltime  time.Duration `yaml:"default_walltime"`
		Weights          struct {
			Age, FairShare, QoS, Size float64
		} `yaml:"weights"`
		FairShare struct {
			HalfLife    time.Duration      `yaml:"half_life"`
			ClassShares map[string]float64 `yaml:"class_shares"`
			OrgKind     map[string]string  `yaml:"org_kind"`
			OrgShares   map[string]float64 `yaml:"org_shares"`
		} `yaml:"fairshare"`
		Preemption struct {
			Enabled    bool
			MinRuntime time.Duration `yaml:"min_runtime"`
			Grace      time.Duration
		} `yaml:"preemption"`
		Quotas struct {
			ProjectAccelerators map[string]int     `yaml:"project_accelerators"`
			ClassAccelerators   map[string]int     `yaml:"class_accelerators"`
			ProjectBudgetHours  map[string]float64 `yaml:"project_budget_hours"`
		} `yaml:"quotas"`
	} `yaml:"config"`
	Sites []struct {
		ID      string
		Country string
		Pools   []struct {
			Name          string
			Model         string
			Nodes         int
			PerNode       int `yaml:"per_node"`
			NodesPerBlock int `yaml:"nodes_per_block"`
			BlocksPerPod  int `yaml:"blocks_per_pod"`
		}
	}
	Steps []struct {
		At      time.Duration
		Submit  []scJob
		Started []struct {
			ID    int64
			Site  string
			Pool  string
			Nodes []string // "gpu-0001:0,1" or "gpu-0001:3@0.25"
		}
		End     []int64
		Requeue []int64
		Cancel  []int64
		Reserve []struct {
			Name         string
			Site, Pool   string
			Accelerators int
			Blocks       []int
			Start, End   time.Duration
			Projects     []string
		}
		Site    []struct{ ID, State string }
		Explain []int64
	}
}

type scJob struct {
	ID             int64
	Acc            string
	Nodes          int
	Wall           time.Duration
	QoS            string
	Org, Project   string
	User           string
	Model          string
	Topology       string
	Preemptible    bool
	Checkpointable bool
	Site           string
	Residency      []string
	Submit         *time.Duration // default: the step's time
}

func (s *scenario) engineConfig() engine.Config {
	c := s.Config
	return engine.Config{
		BackfillDepth: c.BackfillDepth, PriorityInterval: c.PriorityInterval, DefaultWalltime: c.DefaultWalltime,
		Priority: sched.PriorityConfig{AgeWeight: c.Weights.Age, FairShareWeight: c.Weights.FairShare, QoSWeight: c.Weights.QoS, SizeWeight: c.Weights.Size},
		FairShare: sched.FairShareConfig{HalfLife: c.FairShare.HalfLife, ClassShares: c.FairShare.ClassShares,
			OrgKind: c.FairShare.OrgKind, OrgShares: c.FairShare.OrgShares},
		Preemption: engine.Preemption{Enabled: c.Preemption.Enabled, MinRuntime: c.Preemption.MinRuntime, Grace: c.Preemption.Grace},
		Quotas: engine.Quotas{ProjectAccelerators: c.Quotas.ProjectAccelerators, ClassAccelerators: c.Quotas.ClassAccelerators,
			ProjectBudgetHours: c.Quotas.ProjectBudgetHours},
	}
}

func (s *scenario) sites() []core.Site {
	var out []core.Site
	for _, st := range s.Sites {
		cs := core.Site{ID: st.ID, Country: st.Country, State: core.SiteActive}
		for _, p := range st.Pools {
			cs.Pools = append(cs.Pools, core.Pool{Name: p.Name, Model: p.Model, Nodes: p.Nodes, AccelPerNode: p.PerNode,
				NodesPerBlock: p.NodesPerBlock, BlocksPerPod: p.BlocksPerPod})
		}
		out = append(out, cs)
	}
	return out
}

func (j scJob) job(at time.Duration) core.Job {
	m, err := core.ParseMilli(j.Acc)
	if err != nil {
		panic(err)
	}
	sub := at
	if j.Submit != nil {
		sub = *j.Submit
	}
	or := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	return core.Job{ID: core.JobID(j.ID), Org: or(j.Org, "org"), Project: or(j.Project, "proj"), User: or(j.User, "user"),
		State: core.StatePending, SubmitTime: t0.Add(sub),
		Spec: core.JobSpec{Accelerators: m, Nodes: j.Nodes, Walltime: core.Duration(j.Wall), QoS: j.QoS, Model: j.Model,
			Topology: j.Topology, Preemptible: j.Preemptible, Checkpointable: j.Checkpointable,
			Site: j.Site, Residency: j.Residency}}
}

// devs renders device indices compactly: "0-7", "0,2", "3@0.25".
func devs(n core.NodeAlloc) string {
	var parts []string
	for i := 0; i < len(n.Accels); {
		k := i
		for k+1 < len(n.Accels) && n.Accels[k+1] == n.Accels[k]+1 {
			k++
		}
		if k > i {
			parts = append(parts, fmt.Sprintf("%d-%d", n.Accels[i], n.Accels[k]))
		} else {
			parts = append(parts, fmt.Sprint(n.Accels[i]))
		}
		i = k + 1
	}
	s := strings.Join(parts, ",")
	if n.Milli > 0 {
		s += "@" + n.Milli.String()
	}
	return s
}

func parseNode(s string) core.NodeAlloc {
	node, d, _ := strings.Cut(s, ":")
	na := core.NodeAlloc{Node: node}
	if dd, m, ok := strings.Cut(d, "@"); ok {
		na.Milli, _ = core.ParseMilli(m)
		d = dd
	}
	for _, x := range strings.Split(d, ",") {
		var v int
		fmt.Sscan(x, &v)
		na.Accels = append(na.Accels, v)
	}
	return na
}

func rel(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + t.Sub(t0).String()
}

// run plays a scenario and returns its transcript.
func run(t *testing.T, sc *scenario) string {
	var b strings.Builder
	e := engine.New(sc.engineConfig(), sc.sites())
	for i, st := range sc.Steps {
		now := t0.Add(st.At)
		for _, s := range st.Site {
			e.Apply(engine.SiteChanged{Site: s.ID, State: s.State})
		}
		for _, r := range st.Reserve {
			e.Apply(engine.Reservation{Name: r.Name, Site: r.Site, Pool: r.Pool, Accelerators: r.Accelerators, Blocks: r.Blocks,
				Start: t0.Add(r.Start), End: t0.Add(r.End), Projects: r.Projects})
		}
		for _, id := range st.End {
			e.Apply(engine.Ended{ID: core.JobID(id), State: core.StateCompleted, At: now})
		}
		for _, id := range st.Requeue {
			e.Apply(engine.Ended{ID: core.JobID(id), State: core.StateFailed, At: now, Requeue: true})
		}
		for _, id := range st.Cancel {
			e.Apply(engine.Cancelled{ID: core.JobID(id), At: now})
		}
		for _, s := range st.Started {
			a := core.Allocation{Site: s.Site, Pool: s.Pool}
			for _, n := range s.Nodes {
				a.Nodes = append(a.Nodes, parseNode(n))
			}
			e.Apply(engine.Started{ID: core.JobID(s.ID), Alloc: a, At: now})
		}
		for _, j := range st.Submit {
			e.Apply(engine.Submitted{Job: j.job(st.At)})
		}
		in, next := e.Step(now)
		fmt.Fprintf(&b, "== step %d at %s\n", i+1, rel(now))
		for _, x := range in {
			switch x := x.(type) {
			case engine.Start:
				var ns []string
				for _, n := range x.Alloc.Nodes {
					ns = append(ns, n.Node+":"+devs(n))
				}
				fmt.Fprintf(&b, "start %d on %s/%s %s\n", x.ID, x.Alloc.Site, x.Alloc.Pool, strings.Join(ns, " "))
			case engine.Preempt:
				fmt.Fprintf(&b, "preempt %d for %d: %s, grace %s\n", x.ID, x.For, x.Signal, x.Grace)
			}
		}
		for _, ps := range e.Pending() {
			est := "-"
			if ps.EstimatedStart != nil {
				est = rel(*ps.EstimatedStart)
			}
			fmt.Fprintf(&b, "pending %d (est %s): %s\n", ps.ID, est, strings.Join(ps.Reasons, "; "))
		}
		for _, id := range st.Explain {
			bd, ok := e.Explain(core.JobID(id))
			if !ok {
				fmt.Fprintf(&b, "explain %d: unknown\n", id)
				continue
			}
			fmt.Fprintf(&b, "explain %d: priority %.1f =", id, bd.Total)
			for _, f := range bd.Factors {
				fmt.Fprintf(&b, " %s %.3f*%g", f.Name, f.Value, f.Weight)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "next %s\n", rel(next))
	}
	return b.String()
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	slices.Sort(files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			dec := yaml.NewDecoder(strings.NewReader(string(raw)))
			dec.KnownFields(true)
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got := run(t, &sc)
			if again := run(t, &sc); again != got {
				t.Errorf("not deterministic:\n%s", cmp.Diff(got, again))
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
