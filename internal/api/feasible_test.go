package api

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// feasibleCase is one submission: refused with a 422 naming field, whose
// detail holds every one of detail; or (field "") accepted with the
// stored model model.
type feasibleCase struct {
	body   string
	field  string
	detail []string
	model  string
}

func (c feasibleCase) check(t *testing.T, ts *testServer, path string) {
	t.Helper()
	if path == "/api/v1/jobs:batch" {
		c.body = `{"jobs":[{"command":["true"],"accelerators":1},` + c.body + `]}`
	}
	if c.field == "" {
		var out struct {
			core.Job
			Items []core.Job `json:"items"`
		}
		if got := ts.do(t, ts.admin, "POST", path, c.body, &out); got != 201 {
			var p Problem
			ts.do(t, ts.admin, "POST", path, c.body, &p)
			t.Fatalf("status %d, want 201: %s", got, p.Detail)
		}
		j := out.Job
		if len(out.Items) > 0 {
			j = out.Items[len(out.Items)-1]
		}
		if j.Spec.Model != c.model {
			t.Errorf("stored model %q, want %q", j.Spec.Model, c.model)
		}
		return
	}
	var p Problem
	if got := ts.do(t, ts.admin, "POST", path, c.body, &p); got != 422 {
		t.Fatalf("status %d, want 422 (%s)", got, p.Detail)
	}
	if len(p.Errors) != 1 || p.Errors[0].Field != c.field {
		t.Fatalf("errors %+v, want one naming %q", p.Errors, c.field)
	}
	for _, d := range append([]string{"requested node configuration is not available: "}, c.detail...) {
		if !strings.Contains(p.Errors[0].Detail, d) || !strings.Contains(p.Detail, d) {
			t.Errorf("detail %q lacks %q", p.Errors[0].Detail, d)
		}
	}
}

// TestNeverRunnableRefusedEU: over the built-in EU network, requests no
// site could ever run are refused at submission with the reason; those
// some site could run (even a site that is down) are accepted.
func TestNeverRunnableRefusedEU(t *testing.T) {
	sites := config.EU().Sites
	for i := range sites {
		if sites[i].ID == "pharos" {
			sites[i].State = core.SiteDown // GH200 elsewhere too, but pinned below
		}
	}
	ts := newTestServer(t, sites)
	cases := map[string]feasibleCase{
		"model no site has, unknown": {body: `{"command":["true"],"model":"b300"}`, field: "model",
			detail: []string{`model "b300": no site has it; models: `, "NVIDIA H100 (h100)", "AMD Instinct MI250X (mi250x)"}},
		"model no site has, known": {body: `{"command":["true"],"model":"mi300x"}`, field: "model",
			detail: []string{`model "mi300x" (AMD Instinct MI300X): no site has it; models: `}},
		"one of two models unknown": {body: `{"command":["true"],"model":"h100|h1OO"}`, field: "model",
			detail: []string{`model "h1OO": no site has it`}},
		"more accelerators than any pool": {body: `{"command":["true"],"accelerators":200000}`, field: "accelerators",
			detail: []string{"200000 accelerators: no site has a pool that holds it; the largest holds 100000 accelerators (gf-fr, as one gang across its pools)"}},
		"more per node than any node": {body: `{"command":["true"],"accelerators":16,"nodes":1,"accelerators_per_node":16}`, field: "accelerators_per_node",
			detail: []string{"16 accelerators on one node: no site", "at most 20000 nodes and 8 accelerators per node"}},
		"more nodes than any pool": {body: `{"command":["true"],"accelerators":120000,"nodes":30000}`, field: "nodes",
			detail: []string{"120000 accelerators on 30000 nodes"}},
		"GH200 on one node, past its 4": {body: `{"command":["true"],"accelerators":8,"nodes":1,"model":"gh200"}`, field: "accelerators_per_node",
			detail: []string{`8 accelerators on one node: no site has a pool of model "NVIDIA GH200"`, "4 accelerators per node"}},
		"residency nowhere": {body: `{"command":["true"],"residency":["US"]}`, field: "residency",
			detail: []string{"residency US: no site with compute is in those countries; sites are in AT, "}},
		"residency with antennas only": {body: `{"command":["true"],"residency":["BE"]}`, field: "residency",
			detail: []string{"no site in BE has compute: antenna-be"}},
		"model outside the residency": {body: `{"command":["true"],"model":"gpu:gb200","residency":["SE"]}`, field: "model",
			detail: []string{`model "NVIDIA GB200": no site in SE has it; models there: NVIDIA H100`}},
		"walltime over every maximum": {body: `{"command":["true"],"accelerators":1,"walltime":"400h"}`, field: "walltime",
			detail: []string{"walltime 400h0m0s: over the maximum of every site that could hold the job; the longest is 168h0m0s"}},
		"walltime over the maximum in SE": {body: `{"command":["true"],"accelerators":1,"walltime":"100h","residency":["SE"]}`, field: "walltime",
			detail: []string{"the longest is 48h0m0s (mimer)"}},
		"pinned to a site without the model": {body: `{"command":["true"],"model":"GB200","site":"jaif"}`, field: "model",
			detail: []string{`model "NVIDIA GB200": site jaif has NVIDIA GH200`}},
		"pinned, over its walltime": {body: `{"command":["true"],"accelerators":1,"site":"jaif","walltime":"49h"}`, field: "walltime",
			detail: []string{"walltime 49h0m0s: over the maximum of site jaif, 48h0m0s"}},
		"pinned to an antenna": {body: `{"command":["true"],"site":"antenna-be"}`, field: "site",
			detail: []string{"site antenna-be has no compute"}},
		"pinned outside the residency": {body: `{"command":["true"],"site":"jaif","residency":["FR"]}`, field: "residency",
			detail: []string{"residency FR: site jaif is in DE"}},

		"a pod larger than any pod": {body: `{"command":["true"],"accelerators":65536,"model":"gb200","topology":"pod"}`, field: "topology",
			detail: []string{"topology pod: 65536 accelerators in one pod; a pod holds at most 1152 accelerators ("}},
		"a block larger than any block": {body: `{"command":["true"],"accelerators":200,"model":"gb200","topology":"block"}`, field: "topology",
			detail: []string{"topology block: 200 accelerators in one block; a block holds at most 128 accelerators (l-aif "}},
		"a block larger than any block, pinned": {body: `{"command":["true"],"accelerators":512,"site":"jaif","topology":"block"}`, field: "topology",
			detail: []string{"a block holds at most ", "(jaif "}},
		"more of one model than any site has": {body: `{"command":["true"],"accelerators":120000,"model":"gb200"}`, field: "accelerators",
			detail: []string{`120000 accelerators: no site has a pool of model "NVIDIA GB200" that holds it; the largest holds 100000 accelerators (gf-fr, as one gang across its pools)`}},
		"a whole gigafactory, of two models": {body: `{"command":["true"],"accelerators":100000,"site":"gf-de"}`, field: "accelerators",
			detail: []string{"100000 accelerators"}},
		"a pod's worth":             {body: `{"command":["true"],"accelerators":1152,"model":"gb200","topology":"pod"}`, model: "NVIDIA GB200"},
		"a block's worth":           {body: `{"command":["true"],"accelerators":72,"model":"gb200","topology":"block"}`, model: "NVIDIA GB200"},
		"one node, block":           {body: `{"command":["true"],"accelerators":4,"model":"gb200","topology":"block"}`, model: "NVIDIA GB200"},
		"one accelerator, anywhere": {body: `{"command":["true"],"accelerators":1}`},
		"no accelerators, no CPU pool": {body: `{"command":["true"]}`, field: "accelerators",
			detail: []string{"a job without accelerators (1 CPUs per node): no site has a pool with CPUs for it"}},
		"h100":                          {body: `{"command":["true"],"accelerators":8,"model":"h100"}`, model: "NVIDIA H100"},
		"a gigafactory's train pool":    {body: `{"command":["true"],"accelerators":80000,"model":"gb200"}`, model: "NVIDIA GB200"},
		"all of gf-fr, one gang":        {body: `{"command":["true"],"accelerators":100000,"model":"gb200","site":"gf-fr"}`, model: "NVIDIA GB200"},
		"a week at a gigafactory":       {body: `{"command":["true"],"accelerators":1,"walltime":"168h"}`},
		"pinned to a site that is down": {body: `{"command":["true"],"accelerators":4,"site":"pharos","model":"gh200"}`, model: "NVIDIA GH200"},
		"either of two models":          {body: `{"command":["true"],"model":"mi250x|H100"}`, model: "AMD Instinct MI250X|NVIDIA H100"},
		"residency EU":                  {body: `{"command":["true"],"residency":["EU"],"model":"nvidia-h200|nvidia-h100"}`, field: "model", detail: []string{`model "nvidia-h200" (NVIDIA H200): no site has it`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { c.check(t, ts, "/api/v1/jobs") })
	}
	t.Run("batch element", func(t *testing.T) {
		feasibleCase{body: `{"command":["true"],"model":"b300"}`, field: "jobs[1].model", detail: []string{`model "b300"`}}.check(t, ts, "/api/v1/jobs:batch")
		feasibleCase{body: `{"command":["true"],"model":"gpu:H100"}`, model: "NVIDIA H100"}.check(t, ts, "/api/v1/jobs:batch")
	})
}

// TestModelAliasesResolved: the names users type are stored as the
// model the sites name.
func TestModelAliasesResolved(t *testing.T) {
	ts := newTestServer(t, config.EU().Sites)
	cases := map[string]string{
		"h100":                "NVIDIA H100",
		"H100":                "NVIDIA H100",
		"nvidia-h100":         "NVIDIA H100",
		"NVIDIA-H100":         "NVIDIA H100",
		"gpu:h100":            "NVIDIA H100",
		"NVIDIA H100":         "NVIDIA H100",
		"nvidia h100":         "NVIDIA H100",
		"mi250x":              "AMD Instinct MI250X",
		"amd-mi250x":          "AMD Instinct MI250X",
		"AMD Instinct MI250X": "AMD Instinct MI250X",
		"gh200":               "NVIDIA GH200",
		"a100":                "NVIDIA A100",
		"B200":                "NVIDIA B200",
		"gpu:mi430x":          "AMD Instinct MI430X",
		"gb200|gpu:gb200":     "NVIDIA GB200",
	}
	for typed, want := range cases {
		t.Run(typed, func(t *testing.T) {
			feasibleCase{body: `{"command":["true"],"model":"` + typed + `"}`, model: want}.check(t, ts, "/api/v1/jobs")
		})
	}
}

// TestNeverRunnableRefusedLocal: a small network of one's own, whose
// GPU site names its model as nvidia-smi does.
func TestNeverRunnableRefusedLocal(t *testing.T) {
	gpu := core.Site{ID: "gpu", Name: "gpu box", Kind: core.SiteLocal, Country: "DE", Driver: "local", State: core.SiteActive,
		MaxWalltime: core.Duration(24 * time.Hour),
		Pools:       []core.Pool{{Name: "box", Model: "NVIDIA H100 80GB HBM3", AccelPerNode: 2, Nodes: 1}}}
	ts := newTestServer(t, append(localSite(8), gpu))
	cases := map[string]feasibleCase{
		"model no site has": {body: `{"command":["true"],"model":"a100"}`, field: "model",
			detail: []string{`model "a100" (NVIDIA A100): no site has it; models: NVIDIA H100 80GB HBM3 (h100), virtual`}},
		"typo": {body: `{"command":["true"],"model":"virtaul"}`, field: "model",
			detail: []string{`model "virtaul": no site has it; models: NVIDIA H100 80GB HBM3 (h100), virtual`}},
		"more than any site": {body: `{"command":["true"],"accelerators":9}`, field: "accelerators",
			detail: []string{"9 accelerators: no site has a pool that holds it; the largest holds 8 accelerators (local), at most 1 nodes and 8 accelerators per node"}},
		"more than the model's site": {body: `{"command":["true"],"accelerators":4,"model":"h100"}`, field: "accelerators",
			detail: []string{`4 accelerators: no site has a pool of model "NVIDIA H100 80GB HBM3" that holds it; the largest holds 2 accelerators (gpu)`}},
		"two nodes": {body: `{"command":["true"],"accelerators":2,"nodes":2}`, field: "nodes",
			detail: []string{"2 accelerators on 2 nodes", "at most 1 nodes"}},
		"residency elsewhere": {body: `{"command":["true"],"residency":["FR"]}`, field: "residency",
			detail: []string{"residency FR: no site with compute is in those countries; sites are in DE, LU"}},
		"model outside the residency": {body: `{"command":["true"],"residency":["LU"],"model":"h100"}`, field: "model",
			detail: []string{`no site in LU has it; models there: virtual`}},
		"walltime over the GPU site's": {body: `{"command":["true"],"model":"h100","walltime":"48h"}`, field: "walltime",
			detail: []string{"walltime 48h0m0s: over the maximum of every site that could hold the job; the longest is 24h0m0s (gpu)"}},

		"h100 as nvidia-smi names it": {body: `{"command":["true"],"accelerators":2,"model":"h100"}`, model: "NVIDIA H100 80GB HBM3"},
		"the exact name":              {body: `{"command":["true"],"model":"NVIDIA H100 80GB HBM3"}`, model: "NVIDIA H100 80GB HBM3"},
		"virtual in capitals":         {body: `{"command":["true"],"accelerators":8,"model":"VIRTUAL"}`, model: "virtual"},
		"a long job where no maximum": {body: `{"command":["true"],"walltime":"480h"}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { c.check(t, ts, "/api/v1/jobs") })
	}
}

// TestSitesListModelAliases: GET /api/v1/sites and /sites/{id} give each
// pool's model aliases; a model with none lists none.
func TestSitesListModelAliases(t *testing.T) {
	gpu := core.Site{ID: "gpu", Name: "gpu box", Kind: core.SiteLocal, Country: "DE", Driver: "local", State: core.SiteActive,
		Pools: []core.Pool{{Name: "box", Model: "AMD Instinct MI250X", AccelPerNode: 4, Nodes: 1}}}
	ts := newTestServer(t, append(localSite(8), gpu))
	var l list[core.Site]
	if got := ts.do(t, ts.admin, "GET", "/api/v1/sites", nil, &l); got != 200 {
		t.Fatalf("GET sites: %d", got)
	}
	got := map[string][]string{}
	for _, s := range l.Items {
		for _, p := range s.Pools {
			got[s.ID+"/"+p.Name] = p.ModelAliases
		}
	}
	want := map[string][]string{"local/node": nil, "gpu/box": {"mi250x", "amd-mi250x", "amd-instinct-mi250x"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("model aliases (-want +got):\n%s", diff)
	}
	var one core.Site
	if code := ts.do(t, ts.admin, "GET", "/api/v1/sites/gpu", nil, &one); code != 200 || len(one.Pools) != 1 || len(one.Pools[0].ModelAliases) != 3 {
		t.Errorf("GET sites/gpu: %d %+v, want the pool with its 3 aliases", code, one.Pools)
	}
}

// TestWholeSiteGangFeasible: a gang larger than any one pool is accepted
// when the pools of one model and node size at a site hold it together,
// and refused when they are on a Slurm site (one partition per pool),
// when the models differ, or when it needs one pod.
func TestWholeSiteGangFeasible(t *testing.T) {
	site := func(id, driver string) core.Site {
		return core.Site{ID: id, Name: id, Kind: core.SiteGigafactory, Country: "FR", Driver: driver, State: core.SiteActive,
			Pools: []core.Pool{
				{Name: "train", Model: "NVIDIA GB200", AccelPerNode: 4, Nodes: 200, NodesPerBlock: 18, BlocksPerPod: 16},
				{Name: "train2", Model: "NVIDIA GB200", AccelPerNode: 4, Nodes: 50, NodesPerBlock: 18, BlocksPerPod: 16},
				{Name: "serve", Model: "NVIDIA B200", AccelPerNode: 8, Nodes: 25},
			}}
	}
	for name, tc := range map[string]struct {
		driver string
		c      feasibleCase
	}{
		"the whole site's GB200": {c: feasibleCase{body: `{"command":["true"],"accelerators":1000}`}},
		"on nodes, GB200":        {c: feasibleCase{body: `{"command":["true"],"accelerators":1000,"nodes":250,"model":"gb200"}`, model: "NVIDIA GB200"}},
		"more than the site's GB200": {c: feasibleCase{body: `{"command":["true"],"accelerators":1004,"model":"gb200"}`, field: "accelerators",
			detail: []string{"1004 accelerators"}}},
		"models never mix": {c: feasibleCase{body: `{"command":["true"],"accelerators":1100}`, field: "accelerators",
			detail: []string{"1100 accelerators"}}},
		"one pod": {c: feasibleCase{body: `{"command":["true"],"accelerators":1000,"topology":"pod"}`, field: "topology",
			detail: []string{"a pod holds at most 800 accelerators (s train)"}}},
		"Slurm: one partition per pool": {driver: "slurm", c: feasibleCase{body: `{"command":["true"],"accelerators":1000}`, field: "accelerators",
			detail: []string{"1000 accelerators"}}},
	} {
		t.Run(name, func(t *testing.T) {
			st := site("s", "sim")
			if tc.driver != "" {
				st.Driver = tc.driver
			}
			ts := newTestServer(t, []core.Site{st})
			tc.c.check(t, ts, "/api/v1/jobs")
		})
	}
}
