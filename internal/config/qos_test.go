package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestParseCPUPoolFeaturesQoSMap reads a LUMI-like site: a CPU pool, pool
// features and a QoS table.
func TestParseCPUPoolFeaturesQoSMap(t *testing.T) {
	in := `sites:
  - id: lumi
    kind: factory
    country: FI
    driver: sim
    qos_map: {boost_qos_dbg: playground, acc_debug: playground, normal: normal}
    pools:
      - {name: standard-g, model: AMD Instinct MI250X, accelerators_per_node: 8, nodes: 4, cpus_per_node: 56, features: [ib]}
      - {name: standard, model: AMD EPYC 7763, accelerators_per_node: 0, nodes: 8, cpus_per_node: 128, mem_mib_per_node: 229376, features: [ib, lumic]}
`
	c, err := Parse("cfg.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sites[0]
	if diff := cmp.Diff(map[string]string{"boost_qos_dbg": "playground", "acc_debug": "playground", "normal": "normal"}, s.QoSMap); diff != "" {
		t.Errorf("qos_map (-want +got):\n%s", diff)
	}
	want := core.Pool{Name: "standard", Model: "AMD EPYC 7763", Nodes: 8, CPUsPerNode: 128, MemMiBPerNode: 229376, Features: []string{"ib", "lumic"}}
	if diff := cmp.Diff(want, s.Pools[1]); diff != "" {
		t.Errorf("CPU pool (-want +got):\n%s", diff)
	}
	if s.Accelerators != 32 {
		t.Errorf("accelerators %d, want 32 (the CPU pool adds none)", s.Accelerators)
	}
}

func TestMapSiteQoS(t *testing.T) {
	sites := []core.Site{
		{ID: "leonardo", QoSMap: map[string]string{"boost_qos_dbg": core.QoSPlayground, "normal": core.QoSNormal, "boost_qos_bprod": core.QoSLargeScale}},
		{ID: "lumi", QoSMap: map[string]string{"acc_debug": core.QoSPlayground, "boost_qos_bprod": core.QoSNormal}},
		{ID: "plain"},
	}
	tests := map[string]struct {
		pinned, name string
		want         string
		ok           bool
	}{
		"gf's own name":                 {name: core.QoSFastLane, want: core.QoSFastLane, ok: true},
		"one site's name":               {name: "boost_qos_dbg", want: core.QoSPlayground, ok: true},
		"pinned to the site with it":    {pinned: "lumi", name: "acc_debug", want: core.QoSPlayground, ok: true},
		"pinned elsewhere":              {pinned: "leonardo", name: "acc_debug"},
		"pinned to a site with none":    {pinned: "plain", name: "boost_qos_dbg"},
		"sites disagree":                {name: "boost_qos_bprod"},
		"pinned settles a disagreement": {pinned: "leonardo", name: "boost_qos_bprod", want: core.QoSLargeScale, ok: true},
		"unknown everywhere":            {name: "default"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := MapSiteQoS(sites, tc.pinned, tc.name)
			if got != tc.want || ok != tc.ok {
				t.Errorf("MapSiteQoS(%q, %q) = %q, %v; want %q, %v", tc.pinned, tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}
