package sim

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/meter"
)

// A replay's energy, carbon and cost are its runs' accelerator-hours (as
// jobs.csv lists them) at the site's power, PUE, grid factor and price,
// as meter computes them for a live job.
func TestReplayEnergy(t *testing.T) {
	jobs := phillyHead(t, 600)
	sites := smallCluster(25)
	sites[0].PUE, sites[0].PricePerAccelHour, sites[0].Country, sites[0].CarbonGPerKWh = 1.5, 2, "SE", 0
	sites[0].Pools[0].PowerW = 300
	var csv bytes.Buffer
	res, err := Replay(ReplayConfig{Policy: PolicyGigafactory, Sites: sites, Jobs: NewSliceStream(jobs), JobsOut: &csv, OrgKind: map[string]string{}, Tick: time.Second, Mix: MixOfArrivals(jobs, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unfinished != 0 {
		t.Fatalf("%d jobs unfinished: the runs' hours would not all be in jobs.csv", res.Unfinished)
	}
	var hours float64
	for _, line := range strings.Split(strings.TrimSpace(csv.String()), "\n") {
		f := strings.Split(line, ",")
		start, _ := strconv.ParseFloat(f[4], 64)
		end, _ := strconv.ParseFloat(f[5], 64)
		accels, _ := strconv.ParseFloat(f[8], 64)
		hours += (end - start) * accels / 3600
	}
	se, _ := config.GridCarbonFactor("SE")
	e := res.Energy
	s := e.BySite[sites[0].ID]
	if e == nil || s == nil || hours == 0 {
		t.Fatalf("no energy for %s: %+v (%v hours in jobs.csv)", sites[0].ID, e, hours)
	}
	kwh := hours * 300 * meter.DefaultUtilisation * 1.5 / 1000
	for _, f := range []struct {
		what      string
		got, want float64
	}{
		{"accelerator-hours", s.AccelHours, hours}, {"site kWh", s.KWh, kwh}, {"total kWh", e.KWh, kwh},
		{"site t CO2e", s.TCO2e, kwh * se.GCO2ePerKWh / 1e6}, {"total t CO2e", e.TCO2e, kwh * se.GCO2ePerKWh / 1e6},
		{"site cost", s.CostEUR, 2 * hours}, {"total cost", e.CostEUR, 2 * hours},
	} {
		if math.Abs(f.got-f.want) > 1e-5*max(1, f.want) {
			t.Errorf("%s = %v, want %v", f.what, f.got, f.want)
		}
	}
	if s.CarbonSource != se.Source || s.CarbonYear != se.Year || s.PowerW != 300 || s.PUE != 1.5 || e.Utilisation != meter.DefaultUtilisation {
		t.Errorf("factors %+v, utilisation %v; want SE's grid factor (%d), 300 W, PUE 1.5, %v", s, e.Utilisation, se.Year, meter.DefaultUtilisation)
	}
}
