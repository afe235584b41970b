package config

import (
	"errors"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// FuzzParse checks that Parse never panics, that its errors are well
// formed, and that whatever it accepts keeps the invariants the rest of the
// control plane relies on. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(site))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es diag.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty diag.Errors", err, err)
			}
			for _, e := range es {
				if e.Msg == "" || e.Line < 0 {
					t.Fatalf("malformed problem %#v", e)
				}
			}
			return
		}
		if len(c.Sites) == 0 {
			t.Fatal("accepted a config with no sites")
		}
		ids := map[string]bool{}
		for _, s := range c.Sites {
			if ids[s.ID] || s.ID == "" {
				t.Fatalf("site id %q empty or repeated", s.ID)
			}
			ids[s.ID] = true
			if !spec.ValidCountry(s.Country) || s.PUE < 1 || s.CarbonGPerKWh < 0 || s.PricePerAccelHour < 0 {
				t.Fatalf("invalid site accepted: %+v", s)
			}
			if s.Accelerators != s.Totals() || s.Accelerators < 0 {
				t.Fatalf("%s: Accelerators %d, Totals %d", s.ID, s.Accelerators, s.Totals())
			}
			if s.DefaultWalltime <= 0 || s.DefaultWalltime > s.MaxWalltime {
				t.Fatalf("%s: walltimes %v / %v", s.ID, s.DefaultWalltime, s.MaxWalltime)
			}
			if (s.Kind == core.SiteAntenna) != (len(s.Pools) == 0) {
				t.Fatalf("%s: kind %s with %d pools", s.ID, s.Kind, len(s.Pools))
			}
			for _, p := range s.Pools {
				if p.Nodes <= 0 || p.AccelPerNode <= 0 || p.Model == "" || p.Name == "" {
					t.Fatalf("%s: invalid pool accepted: %+v", s.ID, p)
				}
			}
		}
	})
}
