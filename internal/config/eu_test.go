package config

import (
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

func TestEU(t *testing.T) {
	c := EU()
	kinds := map[string]int{}
	total := 0
	ids := map[string]bool{}
	for _, s := range c.Sites {
		kinds[s.Kind]++
		if ids[s.ID] {
			t.Errorf("duplicate site id %s", s.ID)
		}
		ids[s.ID] = true
		if !spec.ValidCountry(s.Country) {
			t.Errorf("%s: invalid country %q", s.ID, s.Country)
		}
		if s.CarbonGPerKWh <= 0 || s.CarbonGPerKWh != GridCarbon(s.Country) {
			t.Errorf("%s: carbon %v, want the grid figure %v", s.ID, s.CarbonGPerKWh, GridCarbon(s.Country))
		}
		if s.PUE < 1 || s.PUE > 1.5 || s.Driver != "sim" || s.State != core.SiteActive || s.Source == "" {
			t.Errorf("%s: pue %v driver %q state %q source %q", s.ID, s.PUE, s.Driver, s.State, s.Source)
		}
		if s.Accelerators != s.Totals() {
			t.Errorf("%s: Accelerators %d != Totals %d", s.ID, s.Accelerators, s.Totals())
		}
		switch s.Kind {
		case core.SiteAntenna:
			if len(s.Pools) != 0 || s.Accelerators != 0 {
				t.Errorf("antenna %s has pools", s.ID)
			}
		case core.SiteGigafactory:
			if s.Accelerators != 100_000 || !s.AssumedSize || !spec.InEU(s.Country) {
				t.Errorf("gigafactory %s: %d accelerators, assumed %v, country %s", s.ID, s.Accelerators, s.AssumedSize, s.Country)
			}
		case core.SiteFactory:
			if s.Accelerators <= 0 || s.PricePerAccelHour <= 0 {
				t.Errorf("factory %s: %d accelerators at %v EUR", s.ID, s.Accelerators, s.PricePerAccelHour)
			}
		default:
			t.Errorf("%s: unexpected kind %q", s.ID, s.Kind)
		}
		for _, p := range s.Pools {
			if _, ok := LookupAccelerator(p.Model); !ok {
				t.Errorf("%s/%s: model %q not in accelerators.json", s.ID, p.Name, p.Model)
			}
			if p.Nodes <= 0 || p.AccelPerNode <= 0 || p.NodesPerBlock <= 0 || p.BlocksPerPod <= 0 {
				t.Errorf("%s/%s: bad shape %+v", s.ID, p.Name, p)
			}
		}
		total += s.Accelerators
	}
	if kinds[core.SiteFactory] != 19 || kinds[core.SiteAntenna] != 13 || kinds[core.SiteGigafactory] != 5 || len(c.Sites) != 37 {
		t.Errorf("kinds %v, %d sites; want 19 factories, 13 antennas, 5 gigafactories", kinds, len(c.Sites))
	}
	if total < 500_000 || total > 700_000 || total != c.Accelerators() {
		t.Errorf("%d accelerators in all, want 500k..700k", total)
	}
	t.Logf("EU network: %d sites, %d accelerators", len(c.Sites), total)

	// Stated sizes are kept exactly and not marked as assumptions.
	for id, want := range map[string]int{"jaif": 24000, "l-aif": 1008, "czai": 340, "gaia": 1000} {
		s, ok := c.Site(id)
		if !ok || s.Accelerators != want {
			t.Errorf("%s: %+v, want %d accelerators", id, s, want)
		}
	}
	if s, _ := c.Site("jaif"); s.AssumedSize || s.Pools[0].AccelPerNode != 4 || s.Pools[0].Nodes != 6000 {
		t.Errorf("jaif modelled wrongly: %+v", s)
	}
	if s, _ := c.Site("lumi-aif"); len(s.Pools) != 2 || !s.AssumedSize || s.Accelerators != 11912+2000 {
		t.Errorf("lumi-aif: %+v", s)
	}
	if s, _ := c.Site("ai-at"); s.Accelerators != 700 || !s.AssumedSize {
		t.Errorf("ai-at: %+v", s)
	}
	// A fresh copy each call.
	c.Sites[0].Name = "changed"
	if EU().Sites[0].Name == "changed" {
		t.Error("EU() shares state between calls")
	}
}

func TestGridCarbonFallback(t *testing.T) {
	mean := GridCarbon("ZZ")
	if mean <= GridCarbon("SE") || mean >= GridCarbon("PL") {
		t.Errorf("EU mean %v not between Sweden and Poland", mean)
	}
}
