package sched

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

func TestRequestOfHost(t *testing.T) {
	tests := map[string]struct {
		spec core.JobSpec
		want Request
	}{
		"tasks per node times cpus per task": {
			spec: core.JobSpec{Accelerators: 8000, Nodes: 2, TasksPerNode: 8, CPUsPerTask: 7},
			want: Request{Milli: 8000, Nodes: 2, CPUs: 56},
		},
		"tasks spread over nodes, rounded up": {
			spec: core.JobSpec{Nodes: 3, Tasks: 10, CPUsPerTask: 2, MemMiBPerNode: 1000},
			want: Request{Nodes: 3, CPUs: 8, MemMiB: 1000},
		},
		"mem per cpu times cpus": {
			spec: core.JobSpec{Accelerators: 1000, CPUsPerTask: 4, MemMiBPerCPU: 2000},
			want: Request{Milli: 1000, CPUs: 4, MemMiB: 8000},
		},
		"mem per cpu with no cpus counts one": {
			spec: core.JobSpec{MemMiBPerCPU: 500},
			want: Request{CPUs: 1, MemMiB: 500},
		},
		"mem=0 and exclusive": {
			spec: core.JobSpec{Accelerators: 4000, MemAll: true, Exclusive: true, Constraint: "mi250"},
			want: Request{Milli: 4000, MemAll: true, Exclusive: true, Constraint: "mi250"},
		},
		"cpu-only job with nothing asked holds one CPU": {
			spec: core.JobSpec{},
			want: Request{CPUs: 1},
		},
		"mem per gpu stays per accelerator": {
			spec: core.JobSpec{Accelerators: 2000, MemMiBPerAccel: 60000},
			want: Request{Milli: 2000, MemMiBPerAccel: 60000},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, RequestOf(&tc.spec)); diff != "" {
				t.Errorf("RequestOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConstraint(t *testing.T) {
	pool := struct {
		model string
		feats []string
	}{"AMD Instinct MI250X", []string{"ib", "HighMem"}}
	tests := map[string]struct {
		expr    string
		match   bool
		feats   []string
		wantErr string
	}{
		"empty":               {expr: "", match: true},
		"model is a feature":  {expr: "mi250x", match: true, feats: []string{"mi250x"}},
		"whole model name":    {expr: "amd instinct mi250x", wantErr: "unexpected 'i'"},
		"and":                 {expr: "ib&highmem", match: true, feats: []string{"highmem", "ib"}},
		"and fails":           {expr: "ib&nvme", match: false, feats: []string{"ib", "nvme"}},
		"or":                  {expr: "nvme|ib", match: true, feats: []string{"ib", "nvme"}},
		"matching or":         {expr: "[a100|mi250x]", match: true, feats: []string{"a100", "mi250x"}},
		"parentheses":         {expr: "(nvme|ib)&highmem", match: true, feats: []string{"highmem", "ib", "nvme"}},
		"nothing matches":     {expr: "[a100|h100]", match: false, feats: []string{"a100", "h100"}},
		"count refused":       {expr: "ib*2", wantErr: "feature counts"},
		"negation refused":    {expr: "!ib", wantErr: "negation"},
		"dangling operator":   {expr: "ib&", wantErr: "missing"},
		"unbalanced bracket":  {expr: "[ib|nvme", wantErr: "missing ']'"},
		"stray character":     {expr: "ib,nvme", wantErr: "unexpected ','"},
		"spaces are ignored ": {expr: " ib & highmem ", match: true, feats: []string{"highmem", "ib"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseConstraint(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseConstraint(%q) = %v, want an error with %q", tc.expr, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Match(pool.model, pool.feats); got != tc.match {
				t.Errorf("Match = %v, want %v", got, tc.match)
			}
			if diff := cmp.Diff(tc.feats, c.Features()); diff != "" {
				t.Errorf("Features (-want +got):\n%s", diff)
			}
		})
	}
}

// hostSites is one site with a pool of 4 GPU nodes (8 each, 64 CPUs,
// 512 GiB) and a pool of 4 CPU nodes (128 CPUs, 256 GiB), with features.
func hostSites() []core.Site {
	return []core.Site{{ID: "s", Country: "FI", State: core.SiteActive, Pools: []core.Pool{
		{Name: "gpu", Model: "mi250x", AccelPerNode: 8, Nodes: 4, CPUsPerNode: 64, MemMiBPerNode: 512 << 10, Features: []string{"ib"}},
		{Name: "cpu", Model: "epyc", AccelPerNode: 0, Nodes: 4, CPUsPerNode: 128, MemMiBPerNode: 256 << 10, Features: []string{"ib", "highmem"}},
	}}}
}

func TestHostPlacement(t *testing.T) {
	type step struct {
		req      Request
		wantPool string // "" = not placed
		wantCode Code
		wantText string // part of the reason when not placed
	}
	tests := map[string][]step{
		"cpu-only job goes to the CPU pool": {
			{req: Request{CPUs: 16}, wantPool: "cpu"},
		},
		"cpu-only job with a GPU-pool constraint uses spare CPUs there": {
			{req: Request{CPUs: 16, Constraint: "mi250x"}, wantPool: "gpu"},
		},
		"accelerators never go to the CPU pool": {
			{req: Request{Milli: 1000, Constraint: "highmem"}, wantCode: MissNoPool},
		},
		"more CPUs per node than any node has": {
			{req: Request{CPUs: 200}, wantCode: MissHostNever, wantText: "needs 200 CPUs per node; eligible nodes have at most 128 CPUs"},
		},
		"accelerators fit but CPUs do not": {
			{req: Request{Milli: 1000, CPUs: 60}, wantPool: "gpu"},
			{req: Request{Milli: 1000, CPUs: 60}, wantPool: "gpu"},
			{req: Request{Milli: 1000, CPUs: 60}, wantPool: "gpu"},
			{req: Request{Milli: 1000, CPUs: 60}, wantPool: "gpu"},
			{req: Request{Milli: 1000, CPUs: 60}, wantCode: MissHost, wantText: "waiting for CPUs or memory: 1 accelerator free, but not the CPUs or memory beside them (it asks for 60 CPUs per node)"},
		},
		"mem=0 takes a node's memory": {
			{req: Request{CPUs: 1, MemAll: true}, wantPool: "cpu"},
			{req: Request{CPUs: 1, MemAll: true}, wantPool: "cpu"},
			{req: Request{CPUs: 1, MemAll: true}, wantPool: "cpu"},
			{req: Request{CPUs: 1, MemAll: true}, wantPool: "cpu"},
			{req: Request{CPUs: 1, MemMiB: 1}, wantCode: MissHost, wantText: "waiting for 1 CPUs and 1 MiB of memory on one node"},
		},
		"exclusive holds a whole node, so a gang no longer fits": {
			{req: Request{Milli: 1000, Exclusive: true}, wantPool: "gpu"},
			{req: Request{Milli: 8000, Nodes: 4}, wantCode: MissResources},
			{req: Request{Milli: 8000, Nodes: 3}, wantPool: "gpu"},
		},
		"a cpu-only job on a GPU node keeps gangs off it": {
			{req: Request{CPUs: 1, Constraint: "mi250x"}, wantPool: "gpu"},
			{req: Request{Milli: 32000, Nodes: 4}, wantCode: MissHost, wantText: "32 accelerators free, but not the CPUs"},
		},
		"a cpu-only job on a GPU node leaves room for GPU shares": {
			{req: Request{CPUs: 8, Constraint: "mi250x"}, wantPool: "gpu"},
			{req: Request{Milli: 8000}, wantPool: "gpu"}, // on another node: 64 CPUs beside 8 does not fit
			{req: Request{Milli: 8000}, wantPool: "gpu"},
			{req: Request{Milli: 8000}, wantPool: "gpu"},
			{req: Request{Milli: 8000}, wantCode: MissHost},
		},
		"cpu-only gang on the CPU pool": {
			{req: Request{Nodes: 4, CPUs: 128}, wantPool: "cpu"},
			{req: Request{CPUs: 1}, wantCode: MissHost},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := NewCluster(hostSites())
			if err != nil {
				t.Fatal(err)
			}
			for k, st := range steps {
				pools := c.Eligible(&st.req)
				pl, miss := c.Place(&st.req, pools)
				if st.wantPool == "" {
					if miss.Code != st.wantCode {
						t.Fatalf("step %d: miss %v (%q), want code %v", k, miss.Code, miss, st.wantCode)
					}
					if !strings.Contains(miss.String(), st.wantText) {
						t.Fatalf("step %d: reason %q, want it to contain %q", k, miss, st.wantText)
					}
					continue
				}
				if miss.Code != MissNone {
					t.Fatalf("step %d: not placed: %s", k, miss)
				}
				if got := c.Pools[pl.Pool].Name; got != st.wantPool {
					t.Fatalf("step %d: placed on %s, want %s", k, got, st.wantPool)
				}
				c.Commit(&pl, 3600)
				checkHost(t, c)
			}
		})
	}
}

// checkHost asserts the invariants of host accounting: no node holds more
// CPUs or memory than it has, and a node counts as whole exactly when
// nothing is held on it.
func checkHost(t *testing.T, c *Cluster) {
	t.Helper()
	for _, p := range c.Pools {
		whole := 0
		for i := range p.nodes {
			n := &p.nodes[i]
			if p.CPUsPerNode > 0 && n.cpu > int32(p.CPUsPerNode) || p.MemMiBPerNode > 0 && n.mem > int32(p.MemMiBPerNode) {
				t.Fatalf("%s node %d holds %d CPUs, %d MiB of %d, %d", p.Name, i, n.cpu, n.mem, p.CPUsPerNode, p.MemMiBPerNode)
			}
			if n.cpu < 0 || n.mem < 0 {
				t.Fatalf("%s node %d holds %d CPUs, %d MiB", p.Name, i, n.cpu, n.mem)
			}
			if n.hs == nil && p.isWhole(i) {
				whole++
			}
		}
		if whole != p.whole {
			t.Fatalf("%s: %d whole nodes counted, %d are", p.Name, p.whole, whole)
		}
	}
}

// TestHostProperty places and ends random CPU-only, exclusive, shared
// and gang jobs and checks, after every change, that no node is
// over-committed, the whole-node counters are true, and an exclusive job
// shares its node with nobody.
func TestHostProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	c, err := NewCluster(hostSites())
	if err != nil {
		t.Fatal(err)
	}
	type running struct {
		pl   Placement
		excl bool
	}
	var live []running
	placed := 0
	for step := range 3000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(live))
			c.Release(&live[k].pl)
			live = append(live[:k], live[k+1:]...)
			checkHost(t, c)
			continue
		}
		var r Request
		switch rng.IntN(5) {
		case 0:
			r = Request{CPUs: 1 + rng.IntN(128), MemMiB: rng.IntN(64 << 10)}
		case 1:
			r = Request{CPUs: 1 + rng.IntN(16), Constraint: "mi250x"}
		case 2:
			r = Request{Milli: core.Milli(1+rng.IntN(8)) * 1000, CPUs: rng.IntN(32), Exclusive: rng.IntN(3) == 0}
		case 3:
			r = Request{Milli: core.Milli(1+rng.IntN(999)) * 1, MemMiB: rng.IntN(1 << 16)}
		default:
			r = Request{Nodes: 2, Milli: 16000}
		}
		pl, miss := c.Place(&r, c.Eligible(&r))
		if miss.Code != MissNone {
			continue
		}
		placed++
		c.Commit(&pl, int64(step))
		live = append(live, running{pl, r.Exclusive})
		checkHost(t, c)
		for _, a := range live {
			if !a.excl {
				continue
			}
			for _, b := range live {
				if a.pl.Pool != b.pl.Pool || &a == &b {
					continue
				}
				for _, sa := range a.pl.Nodes {
					for _, sb := range b.pl.Nodes {
						if sa.Node == sb.Node && !(len(a.pl.Nodes) == len(b.pl.Nodes) && sa == sb) {
							t.Fatalf("step %d: node %d of an exclusive job shared", step, sa.Node)
						}
					}
				}
			}
		}
	}
	if placed < 100 {
		t.Fatalf("only %d placements: the test exercises little", placed)
	}
}
