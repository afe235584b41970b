package sim

import (
	"testing"
)

// TestGigafactoryBeatsBestFit runs two seeds of the openb experiment (the
// full pod list, 130% demand) and wants the gigafactory policy at 95.3% or
// more and at least one point of allocation ahead of best fit on each
// (measured: seed 43 best fit 94.01%, ours 95.70%; seed 44 93.93%, 95.44%).
func TestGigafactoryBeatsBestFit(t *testing.T) {
	if testing.Short() {
		t.Skip("two openb seeds")
	}
	sum, err := Run(Options{Mode: "placement", Trace: "openb:" + openbGPU + "," + openbPod, Demand: 1.3,
		Seeds: []uint64{43, 44}, Policies: []string{PlaceBestFit, PlaceGigafactory}})
	if err != nil {
		t.Fatal(err)
	}
	bf, gf := sum.Placement[0], sum.Placement[1]
	for i := range bf.Seeds {
		b, g := bf.Seeds[i], gf.Seeds[i]
		t.Logf("seed %d: bestfit %.4f gigafactory %.4f", b.Seed, b.AllocationRatio, g.AllocationRatio)
		if b.Pods != g.Pods || g.Placed+g.Refused != g.Pods {
			t.Fatalf("seed %d: bad accounting %+v %+v", b.Seed, b, g)
		}
		if g.AllocationRatio < b.AllocationRatio+0.01 || g.AllocationRatio < 0.953 {
			t.Errorf("seed %d: bestfit %.4f, gigafactory %.4f; want ours >= 95.3%% and 1 point ahead", b.Seed, b.AllocationRatio, g.AllocationRatio)
		}
	}
}
