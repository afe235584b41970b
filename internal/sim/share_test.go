package sim

import (
	"math"
	"testing"
)

// Entitlements water-fill what is held over the engine's classes by
// their shares, capped by demand, and split a class the engine counts as
// one (SMEs and startups) by demand.
func TestEntitlements(t *testing.T) {
	shares := map[string]float64{"research": 40, "sme": 20, "industry": 20, "public": 20}
	cases := []struct {
		name   string
		demand map[string]float64 // held + waiting, by report class
		held   float64
		want   map[string]float64
	}{
		{"one class asks little: the rest by shares",
			map[string]float64{"research": 10, "sme": 60, "startup": 40, "industry": 100}, 150,
			map[string]float64{"research": 10, "sme": 42, "startup": 28, "industry": 70}},
		{"everyone asks more than its share: the shares",
			map[string]float64{"research": 1000, "sme": 1000, "industry": 1000, "public": 1000}, 100,
			map[string]float64{"research": 40, "sme": 20, "industry": 20, "public": 20}},
		{"a cap frees room that a second round hands out",
			map[string]float64{"research": 1000, "sme": 5, "industry": 1000, "public": 1000}, 100,
			map[string]float64{"research": 95.0 * 40 / 80, "sme": 5, "industry": 95.0 * 20 / 80, "public": 95.0 * 20 / 80}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newStats(nil, "x", shares)
			for name, d := range tc.demand {
				st.class(name).waiting = d
			}
			got := st.entitlements(tc.held)
			var sum float64
			for name, want := range tc.want {
				if math.Abs(got[name]-want) > 1e-9 {
					t.Errorf("%s entitled to %.6f, want %.6f (all: %v)", name, got[name], want, got)
				}
				sum += got[name]
			}
			if math.Abs(sum-tc.held) > 1e-9 {
				t.Errorf("entitlements sum to %.6f, want all that is held, %.6f", sum, tc.held)
			}
		})
	}
}
