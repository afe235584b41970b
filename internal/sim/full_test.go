package sim

import (
	"flag"
	"testing"
)

var full = flag.Bool("full", false, "run the acceptance-size experiments (minutes): the whole Philly trace, ten openb seeds")

// TestPhillyFullScale replays all 82,247 Philly jobs on the Philly-scale
// cluster with every policy (go test ./internal/sim -run Full -full).
func TestPhillyFullScale(t *testing.T) {
	if !*full {
		t.Skip("acceptance size: use -full")
	}
	jobs := phillyAll(t)
	for _, pol := range []string{PolicyFIFO, PolicyBackfill, PolicyGigafactory} {
		res, err := Replay(ReplayConfig{Policy: pol, Sites: PhillyCluster(), Jobs: NewSliceStream(jobs), Tick: 1e9})
		if err != nil {
			t.Fatal(err)
		}
		if res.Jobs != 82247 || res.Completed != 82247 {
			t.Errorf("%s: %d jobs, %d completed", pol, res.Jobs, res.Completed)
		}
		// The job table offers 15% of 2,488 GPUs: nothing should wait long.
		if res.OfferedLoad < 0.14 || res.OfferedLoad > 0.16 || res.Wait.P99 > 60 {
			t.Errorf("%s: offered load %.3f, wait %+v", pol, res.OfferedLoad, res.Wait)
		}
		t.Logf("%s: utilisation %.3f wait %+v jct %+v", pol, res.Utilisation, res.Wait, res.JCT)
	}
}

// TestPlacementTenSeeds is the FGD artifact's experiment at full size.
func TestPlacementTenSeeds(t *testing.T) {
	if !*full {
		t.Skip("acceptance size: use -full")
	}
	sum, err := Run(Options{Mode: "placement", Trace: "openb:" + openbGPU + "," + openbPod, Demand: 1.3,
		Seeds: []uint64{42, 43, 44, 45, 46, 47, 48, 49, 50, 51}, Policies: []string{PlaceBestFit, PlaceFGD, PlaceGigafactory}})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.AllocationRatioByPolicy
	t.Logf("allocation ratio: %v", r)
	if !(r[PlaceBestFit] < r[PlaceFGD] && r[PlaceFGD] < r[PlaceGigafactory]) {
		t.Errorf("want bestfit < fgd < gigafactory, got %v", r)
	}
}
