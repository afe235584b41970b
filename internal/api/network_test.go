package api

import (
	"slices"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// sameNetwork decides when the cached feasibility broker is rebuilt: a
// site's state does not count (Feasible takes every site as active);
// anything else does, pools compared by value when not shared.
func TestSameNetwork(t *testing.T) {
	base := []core.Site{{ID: "a", Kind: core.SiteFactory, Country: "DE", MaxWalltime: core.Duration(3600e9),
		Pools: []core.Pool{{Name: "p", Model: "NVIDIA H100", AccelPerNode: 8, Nodes: 4}}}}
	edit := func(f func(s *core.Site)) []core.Site {
		out := slices.Clone(base)
		f(&out[0])
		return out
	}
	copyPools := func(s *core.Site) { s.Pools = slices.Clone(s.Pools) }
	cases := map[string]struct {
		b    []core.Site
		same bool
	}{
		"identical":              {slices.Clone(base), true},
		"state drained":          {edit(func(s *core.Site) { s.State = core.SiteDraining }), true},
		"pools copied, equal":    {edit(copyPools), true},
		"pool grows":             {edit(func(s *core.Site) { copyPools(s); s.Pools[0].Nodes = 5 }), false},
		"walltime":               {edit(func(s *core.Site) { s.MaxWalltime = 0 }), false},
		"country":                {edit(func(s *core.Site) { s.Country = "FR" }), false},
		"a site more":            {append(slices.Clone(base), core.Site{ID: "b"}), false},
		"pool features differ":   {edit(func(s *core.Site) { copyPools(s); s.Pools[0].Features = []string{"ib"} }), false},
		"driver (gangs span it)": {edit(func(s *core.Site) { s.Driver = "slurm" }), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := sameNetwork(base, c.b); got != c.same {
				t.Errorf("sameNetwork = %v, want %v", got, c.same)
			}
		})
	}
}
