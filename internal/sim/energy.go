package sim

import (
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/meter"
)

// EnergyResult is what a replay's runs used in energy, emitted and cost,
// by site and in total, computed as package meter computes a live job's
// meter (issue 15), with the factors used.
type EnergyResult struct {
	// Utilisation is the share of board power assumed drawn while a job
	// holds an accelerator (meter.DefaultUtilisation).
	Utilisation float64                `json:"utilisation"`
	KWh         float64                `json:"energy_kwh"`
	TCO2e       float64                `json:"carbon_t_co2e"`
	CostEUR     float64                `json:"cost_eur"`
	BySite      map[string]*SiteEnergy `json:"by_site"`
}

// SiteEnergy is one site's figures and the factors behind them.
type SiteEnergy struct {
	AccelHours float64 `json:"accelerator_hours"`
	KWh        float64 `json:"energy_kwh"`
	TCO2e      float64 `json:"carbon_t_co2e"`
	CostEUR    float64 `json:"cost_eur"`
	// PowerW is the board power per accelerator: the mean of the site's
	// pools weighted by their accelerators (a run's pool is not tracked).
	PowerW        float64 `json:"power_w"`
	PUE           float64 `json:"pue"`
	CarbonGPerKWh float64 `json:"carbon_g_per_kwh"`
	CarbonYear    int     `json:"carbon_year,omitempty"`
	CarbonSource  string  `json:"carbon_source"`
	PricePerHour  float64 `json:"price_per_accelerator_hour"`
}

// energy turns each site's accelerator-seconds into energy, carbon and
// cost. It runs once, at the end, so the replay's loop pays nothing.
func energy(sites []core.Site, accelSeconds []float64) *EnergyResult {
	cfg := meter.Config{}
	out := &EnergyResult{Utilisation: cfg.UtilisationUsed(), BySite: map[string]*SiteEnergy{}}
	for i, s := range sites {
		var watts, accels float64
		for _, p := range s.Pools {
			n := float64(p.Nodes * p.AccelPerNode)
			w, _ := meter.PowerW(p)
			watts += n * w
			accels += n
		}
		power := 0.0
		if accels > 0 {
			power = watts / accels
		}
		h := accelSeconds[i] / 3600
		f := meter.Carbon(s)
		pue := s.PUE
		if pue <= 0 {
			pue = 1
		}
		e := &SiteEnergy{AccelHours: round6(h), PowerW: round6(power), PUE: pue, CarbonGPerKWh: f.GCO2ePerKWh, CarbonYear: f.Year,
			CarbonSource: f.Source, PricePerHour: s.PricePerAccelHour}
		kwh := h * power * cfg.UtilisationUsed() * pue / 1000
		t := kwh * f.GCO2ePerKWh / 1e6
		cost := h * s.PricePerAccelHour
		e.KWh, e.TCO2e, e.CostEUR = round6(kwh), round6(t), round6(cost)
		out.BySite[s.ID] = e
		out.KWh += kwh
		out.TCO2e += t
		out.CostEUR += cost
	}
	out.KWh, out.TCO2e, out.CostEUR = round6(out.KWh), round6(out.TCO2e), round6(out.CostEUR)
	return out
}
