package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
	"github.com/google/go-cmp/cmp"
)

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/federation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sites) != 3 {
		t.Fatalf("got %d sites, want 3", len(c.Sites))
	}
	j := c.Sites[1]
	want := core.Site{
		ID: "jaif", Name: "JUPITER AI Factory", Kind: "factory", Country: "DE", Driver: "slurm",
		DriverOptions:     map[string]string{"slurm_url": "http://slurm:6820", "api_version": "0.0.40"},
		PricePerAccelHour: 2.5, PUE: 1.08, CarbonGPerKWh: 380, State: "active",
		DefaultWalltime: core.Duration(time.Hour), MaxWalltime: core.Duration(24 * time.Hour),
		Accelerators: 24008,
		Pools: []core.Pool{
			{Name: "booster", Model: "NVIDIA GH200", AccelPerNode: 4, Nodes: 6000, NodesPerBlock: 48, BlocksPerPod: 25, CPUsPerNode: 288, MemMiBPerNode: 491520, PowerW: 680},
			{Name: "dev", Model: "NVIDIA GH200", AccelPerNode: 4, Nodes: 2},
		},
	}
	if diff := cmp.Diff(want, j); diff != "" {
		t.Errorf("jaif (-want +got):\n%s", diff)
	}
	be := c.Sites[2]
	if be.Name != "antenna-be" || be.PUE != DefaultPUE || be.CarbonGPerKWh != GridCarbon("BE") || be.Accelerators != 0 {
		t.Errorf("antenna defaults wrong: %+v", be)
	}
	if GridCarbon("BE") != 138.1 {
		t.Errorf("GridCarbon(BE) = %v, want 138.1 from the embedded data", GridCarbon("BE"))
	}
	if c.Scheduler == nil || c.Scheduler.Line != 39 {
		t.Errorf("scheduler node not kept with its line: %+v", c.Scheduler)
	}
	if got := c.Accelerators(); got != 8+24008 {
		t.Errorf("Accelerators() = %d", got)
	}
	if s, ok := c.Site("local"); !ok || s.MaxWalltime != core.Duration(48*time.Hour) {
		t.Errorf("Site(local) = %+v, %v", s, ok)
	}
}

// site is a valid site with one pool; tests replace a line of it.
const site = `sites:
  - id: a
    kind: factory
    country: DE
    driver: sim
    pools:
      - name: gpu
        model: H100
        accelerators_per_node: 8
        nodes: 4
`

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"negative nodes": {
			in:   strings.Replace(site, "nodes: 4", "nodes: -2", 1),
			want: []string{"cfg.yaml:10: sites[0].pools[0].nodes: must be positive, got -2"},
		},
		"second pool": {
			in: site + "      - {name: b, model: x, accelerators_per_node: -1, nodes: -2}\n",
			want: []string{
				"cfg.yaml:11: sites[0].pools[1].accelerators_per_node: must not be negative, got -1",
				"cfg.yaml:11: sites[0].pools[1].nodes: must be positive, got -2",
			},
		},
		"cpu pool without cpus": {
			in:   site + "      - {name: c, model: epyc, accelerators_per_node: 0, nodes: 2}\n",
			want: []string{"cfg.yaml:11: sites[0].pools[1].cpus_per_node: required for a pool without accelerators (accelerators_per_node: 0)"},
		},
		"bad features": {
			in: site + "      - {name: c, model: epyc, accelerators_per_node: 0, cpus_per_node: 128, nodes: 2, features: [ib, 'a b', IB]}\n",
			want: []string{
				`cfg.yaml:11: sites[0].pools[1].features[1]: want letters, digits, '_', '.', ':' or '-' (at most 63), got "a b"`,
				`cfg.yaml:11: sites[0].pools[1].features[2]: duplicate feature "IB"`,
			},
		},
		"qos map to an unknown QoS": {
			in:   strings.Replace(site, "driver: sim", "driver: sim\n    qos_map: {boost_qos_dbg: playgrond}", 1),
			want: []string{`cfg.yaml:6: sites[0].qos_map.boost_qos_dbg: unknown QoS "playgrond"; did you mean "playground"? (want one of playground, normal, fast-lane, large-scale, moonshot)`},
		},
		"unknown key with suggestion": {
			in:   strings.Replace(site, "driver: sim", "drivr: sim", 1),
			want: []string{"cfg.yaml:2: sites[0].driver: required", `cfg.yaml:5: sites[0].drivr: unknown field "drivr"; did you mean "driver"?`},
		},
		"unknown top-level key": {
			in:   site + "schedular: {}\n",
			want: []string{`cfg.yaml:11: schedular: unknown field "schedular"; did you mean "scheduler"?`},
		},
		"bad country": {
			in:   strings.Replace(site, "country: DE", "country: XX", 1),
			want: []string{`cfg.yaml:4: sites[0].country: "XX" is not an ISO 3166-1 alpha-2 country code`},
		},
		"bad kind": {
			in:   strings.Replace(site, "kind: factory", "kind: factori", 1),
			want: []string{`cfg.yaml:3: sites[0].kind: unknown value "factori"; did you mean "factory"? (want one of local, factory, gigafactory, antenna)`},
		},
		"bad driver": {
			in:   strings.Replace(site, "driver: sim", "driver: k8s", 1),
			want: []string{`cfg.yaml:5: sites[0].driver: unknown value "k8s"; want one of local, slurm, sim`},
		},
		"wrong type": {
			in:   strings.Replace(site, "nodes: 4", "nodes: four", 1),
			want: []string{`cfg.yaml:10: sites[0].pools[0].nodes: want a whole number, got string "four"`},
		},
		"pue below one": {
			in:   strings.Replace(site, "driver: sim", "driver: sim\n    pue: 0.9", 1),
			want: []string{"cfg.yaml:6: sites[0].pue: must be at least 1, got 0.9"},
		},
		"negative price": {
			in:   strings.Replace(site, "driver: sim", "driver: sim\n    price_per_accelerator_hour: -1", 1),
			want: []string{"cfg.yaml:6: sites[0].price_per_accelerator_hour: must not be negative, got -1"},
		},
		"bad walltime": {
			in:   strings.Replace(site, "driver: sim", "driver: sim\n    max_walltime: forever", 1),
			want: []string{`cfg.yaml:6: sites[0].max_walltime: want a duration like 1h30m, 90m or 2:00:00, got "forever"`},
		},
		"default longer than max": {
			in:   strings.Replace(site, "driver: sim", "driver: sim\n    default_walltime: 2h\n    max_walltime: 1h", 1),
			want: []string{"cfg.yaml:6: sites[0].default_walltime: 2h0m0s is longer than max_walltime 1h0m0s"},
		},
		"duplicate site id": {
			in:   site + strings.TrimPrefix(site, "sites:\n"),
			want: []string{`cfg.yaml:11: sites[1].id: duplicate site id "a" (first at line 2)`},
		},
		"duplicate pool": {
			in:   site + "      - {name: gpu, model: x, accelerators_per_node: 1, nodes: 1}\n",
			want: []string{`cfg.yaml:11: sites[0].pools[1].name: duplicate pool name "gpu" (first at line 7)`},
		},
		"duplicate key": {
			in:   strings.Replace(site, "country: DE", "country: DE\n    country: FR", 1),
			want: []string{"cfg.yaml:5: sites[0].country: given twice (first at line 4)"},
		},
		"missing fields": {
			in: "sites:\n  - id: x\n    pools: [{name: p}]\n",
			want: []string{
				"cfg.yaml:2: sites[0].kind: required",
				"cfg.yaml:2: sites[0].country: required",
				"cfg.yaml:2: sites[0].driver: required",
				"cfg.yaml:3: sites[0].pools[0].model: required",
				"cfg.yaml:3: sites[0].pools[0].accelerators_per_node: required",
				"cfg.yaml:3: sites[0].pools[0].nodes: required",
			},
		},
		"antenna with pools": {
			in:   strings.Replace(site, "kind: factory", "kind: antenna", 1),
			want: []string{"cfg.yaml:6: sites[0].pools: an antenna is an access point with no compute of its own; give it no pools"},
		},
		"factory without pools": {
			in:   "sites:\n  - {id: a, kind: factory, country: FR, driver: sim}\n",
			want: []string{"cfg.yaml:2: sites[0].pools: required: a factory site needs at least one pool"},
		},
		"empty pools": {
			in:   "sites:\n  - id: a\n    kind: factory\n    country: FR\n    driver: sim\n    pools:\n",
			want: []string{"cfg.yaml:6: sites[0].pools: required: a factory site needs at least one pool"},
		},
		"bad id": {
			in:   strings.Replace(site, "id: a", "id: A/B", 1),
			want: []string{`cfg.yaml:2: sites[0].id: want lower-case letters, digits, '.', '_' or '-' (at most 63), got "A/B"`},
		},
		"no sites": {
			in:   "scheduler: {}\n",
			want: []string{"cfg.yaml: sites: required: list at least one site"},
		},
		"empty sites": {
			in:   "sites: []\n",
			want: []string{"cfg.yaml:1: sites: list at least one site"},
		},
		"not a mapping": {
			in:   "- a\n",
			want: []string{"cfg.yaml:1: want a mapping with sites and scheduler, got a list"},
		},
		"syntax": {
			in:   "sites: [\n",
			want: []string{"cfg.yaml:1: invalid YAML: did not find expected node content"},
		},
		"empty": {
			in:   "",
			want: []string{"cfg.yaml: empty file: want a mapping with sites"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse("cfg.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			var errs diag.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T, want diag.Errors", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	noEnv := func(string) string { return "" }
	t.Run("nvidia-smi", func(t *testing.T) {
		c := Default(DefaultOptions{
			Hostname:  "gpu-box.example.eu",
			Getenv:    noEnv,
			NvidiaSMI: func() (string, error) { return "0, NVIDIA H100 80GB HBM3\n1, NVIDIA H100 80GB HBM3\n", nil },
		})
		s := c.Sites[0]
		if s.ID != "local" || s.Kind != core.SiteLocal || s.Driver != "local" || s.Country != DefaultCountry {
			t.Errorf("site = %+v", s)
		}
		p := s.Pools[0]
		if p.Name != "gpu-box" || p.Model != "NVIDIA H100 80GB HBM3" || p.AccelPerNode != 2 || p.Nodes != 1 || p.PowerW != 700 {
			t.Errorf("pool = %+v", p)
		}
		if s.Accelerators != 2 || s.CarbonGPerKWh != GridCarbon("LU") || len(c.Warnings) != 0 {
			t.Errorf("accelerators %d, carbon %v, warnings %v", s.Accelerators, s.CarbonGPerKWh, c.Warnings)
		}
	})
	t.Run("no GPU", func(t *testing.T) {
		c := Default(DefaultOptions{
			Hostname:  "laptop",
			Getenv:    func(k string) string { return map[string]string{"GF_COUNTRY": "fr"}[k] },
			NvidiaSMI: func() (string, error) { return "", errors.New("exec: nvidia-smi: not found") },
		})
		s := c.Sites[0]
		if s.Country != "FR" || s.Pools[0].Model != VirtualModel || s.Accelerators != DefaultVirtualAccelerators {
			t.Errorf("site = %+v", s)
		}
	})
	t.Run("failing nvidia-smi and options", func(t *testing.T) {
		c := Default(DefaultOptions{
			Hostname: "h", Country: "EL", VirtualAccelerators: 3, Getenv: noEnv,
			NvidiaSMI: func() (string, error) { return "NVIDIA-SMI has failed", errors.New("exit status 9") },
		})
		if s := c.Sites[0]; s.Country != "GR" || s.Accelerators != 3 {
			t.Errorf("site = %+v", s)
		}
	})
	t.Run("bad country", func(t *testing.T) {
		c := Default(DefaultOptions{Hostname: "h", Country: "Europe", Getenv: noEnv, NvidiaSMI: func() (string, error) { return "", nil }})
		if c.Sites[0].Country != DefaultCountry || len(c.Warnings) != 1 {
			t.Errorf("country %q, warnings %v", c.Sites[0].Country, c.Warnings)
		}
	})
	t.Run("mixed models", func(t *testing.T) {
		c := Default(DefaultOptions{Hostname: "h", Getenv: noEnv, NvidiaSMI: func() (string, error) {
			return "0, NVIDIA A100-SXM4-80GB\n1, NVIDIA H100 PCIe\n", nil
		}})
		if c.Sites[0].Accelerators != 2 || len(c.Warnings) != 1 || c.Sites[0].Pools[0].PowerW != 400 {
			t.Errorf("site %+v, warnings %v", c.Sites[0], c.Warnings)
		}
	})
}

func TestAccelerators(t *testing.T) {
	as := Accelerators()
	if len(as) < 8 {
		t.Fatalf("only %d accelerators", len(as))
	}
	h100, ok := LookupAccelerator("h100")
	if !ok || h100.BF16TFLOPS != 989.4 || h100.TDPW != 700 || h100.Name != "NVIDIA H100" || h100.Model != "NVIDIA H100 SXM5 80 GB" {
		t.Errorf("LookupAccelerator(h100) = %+v, %v", h100, ok)
	}
	for _, a := range as {
		if a.Family == "" || a.Vendor == "" {
			t.Errorf("accelerator without family or vendor: %+v", a)
		}
	}
	if mi, ok := LookupAccelerator("AMD Instinct MI250X"); !ok || mi.Name != "AMD Instinct MI250X" || mi.BF16TFLOPS != 383 {
		t.Errorf("LookupAccelerator(MI250X) = %+v, %v", mi, ok)
	}
	if _, ok := LookupAccelerator("virtual"); ok {
		t.Error("LookupAccelerator(virtual) found something")
	}
}

func TestExchangeRates(t *testing.T) {
	base := "sites:\n  - {id: s, kind: local, country: DE, driver: local, pools: [{name: p, model: h100, accelerators_per_node: 4, nodes: 1}]}\n"
	c, err := Parse("gf.yaml", []byte(base+"exchange_rates: {h100: 1, A100: 0.435}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a100, _ := CanonicalModel("a100")
	if c.ExchangeRates[a100] != 0.435 || len(c.ExchangeRates) != 2 {
		t.Errorf("rates %v, want a100 (as %s) at 0.435 and h100", c.ExchangeRates, a100)
	}
	for _, bad := range []string{"exchange_rates: {h100: 0}\n", "exchange_rates: {h100: fast}\n", "exchange_rates: [1]\n"} {
		if _, err := Parse("gf.yaml", []byte(base+bad)); err == nil || !strings.Contains(err.Error(), "exchange_rates") {
			t.Errorf("%q: err %v, want one naming exchange_rates", bad, err)
		}
	}
}

func TestDefaultExchangeRates(t *testing.T) {
	r := DefaultExchangeRates()
	if r["NVIDIA H100"] != 1 {
		t.Errorf("H100 rate %v, want 1 (the unit)", r["NVIDIA H100"])
	}
	if a := r["NVIDIA A100"]; a < 0.25 || a > 0.5 {
		t.Errorf("A100 rate %v, want about 312/989", a)
	}
	if len(r) < 5 {
		t.Errorf("only %d models have a default rate: %v", len(r), r)
	}
}

func TestSiteCity(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string // the city parsed
		wantErr string
	}{
		"absent":     {in: site, want: ""},
		"given":      {in: strings.Replace(site, "country: DE", "country: DE\n    city: Jülich", 1), want: "Jülich"},
		"not a word": {in: strings.Replace(site, "country: DE", "country: DE\n    city: [a, b]", 1), wantErr: "sites[0].city"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse("cfg.yaml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sites[0].City; got != tc.want {
				t.Errorf("city %q, want %q", got, tc.want)
			}
		})
	}
	for _, s := range EU().Sites {
		if s.ID == "lumi-aif" && s.City != "Kajaani" {
			t.Errorf("EU: lumi-aif city %q, want Kajaani from eu/sites.json", s.City)
		}
	}
}
