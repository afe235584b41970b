package meter

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/award"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func site(kind, country string, pools ...core.Pool) core.Site {
	return core.Site{ID: "s-" + kind, Kind: kind, Country: country, Pools: pools, PUE: 1.2, PricePerAccelHour: 2.5}
}

var h100 = core.Pool{Name: "gpu", Model: "NVIDIA H100", AccelPerNode: 4, Nodes: 10, CPUsPerNode: 64, PowerW: 700}

func job(accels, nodes int) core.Job {
	al := &core.Allocation{Site: "s", Pool: "gpu"}
	per := accels / nodes
	for n := range nodes {
		na := core.NodeAlloc{Node: "n" + string(rune('0'+n))}
		for d := range per {
			na.Accels = append(na.Accels, d)
		}
		al.Nodes = append(al.Nodes, na)
	}
	return core.Job{ID: 7, Project: "p", Org: "o", User: "u", Alloc: al}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b)) }

func TestMeter(t *testing.T) {
	fi, _ := config.GridCarbonFactor("FI")
	if fi.Year == 0 || fi.Source == "" || fi.GCO2ePerKWh <= 0 {
		t.Fatalf("FI grid factor without year or source: %+v", fi)
	}
	a100 := core.Pool{Name: "gpu", Model: "NVIDIA A100", AccelPerNode: 4, Nodes: 2, CPUsPerNode: 32}
	a100TDP, _ := config.LookupAccelerator("A100")
	aw := &core.Award{ID: "EHPC-AI-1", Project: "p", Hours: map[string]float64{"NVIDIA H100": 1000}}
	rates := award.Rates{By: map[string]float64{"NVIDIA H100": 1, "NVIDIA A100": 0.5}}
	tests := map[string]struct {
		run                              Run
		accelH, nodeH, cpuH, kwh         float64
		cost, public, capped, normH      float64
		powerSource, carbonSrc, policyIn string
	}{
		"research at a factory: all public": {
			run:    Run{Job: job(8, 2), Start: t0, End: t0.Add(2 * time.Hour), Site: site(core.SiteFactory, "FI", h100), OrgKind: core.OrgResearch},
			accelH: 16, nodeH: 4, cpuH: 8.0 / 4 * 64 * 2, kwh: 8 * 700 * 0.4 * 2 * 1.2 / 1000,
			cost: 40, public: 40, powerSource: "pool gpu", carbonSrc: fi.Source, policyIn: "org_kind=research: 100% public",
		},
		"sme crossing its cap: the hours beyond are private": {
			run:    Run{Job: job(8, 2), Start: t0, End: t0.Add(2 * time.Hour), Site: site(core.SiteFactory, "FI", h100), OrgKind: core.OrgSME, CapUsed: DefaultCapAccelHours - 10},
			accelH: 16, nodeH: 4, cpuH: 256, kwh: 5.376,
			cost: 40, public: 40 * 10.0 / 16, capped: 10, powerSource: "pool gpu", carbonSrc: fi.Source, policyIn: "up to 50000 accelerator-hours",
		},
		"sme at a gigafactory: cost recovery": {
			run:    Run{Job: job(8, 2), Start: t0, End: t0.Add(2 * time.Hour), Site: site(core.SiteGigafactory, "FI", h100), OrgKind: core.OrgSME},
			accelH: 16, nodeH: 4, cpuH: 256, kwh: 5.376,
			cost: 40, public: 0, powerSource: "pool gpu", carbonSrc: fi.Source, policyIn: "any: 0% public",
		},
		"industry, A100 at its reference TDP, normalised to the H100 award": {
			run:    Run{Job: job(4, 1), Start: t0, End: t0.Add(3 * time.Hour), Site: site(core.SiteFactory, "FI", a100), OrgKind: core.OrgIndustry, Award: aw},
			accelH: 12, nodeH: 3, cpuH: 96, kwh: 4 * float64(a100TDP.TDPW) * 0.4 * 3 * 1.2 / 1000,
			cost: 30, public: 0, normH: 6, powerSource: "TDP of", carbonSrc: fi.Source, policyIn: "org_kind=industry: 0% public",
		},
		"a site's own carbon figure overrides its country's": {
			run: Run{Job: job(4, 1), Start: t0, End: t0.Add(time.Hour), OrgKind: core.OrgPublic,
				Site: func() core.Site { s := site(core.SiteFactory, "FI", h100); s.CarbonGPerKWh = 5; return s }()},
			accelH: 4, nodeH: 1, cpuH: 64, kwh: 4 * 700 * 0.4 * 1.2 / 1000,
			cost: 10, public: 10, powerSource: "pool gpu", carbonSrc: "site s-factory carbon_g_per_kwh", policyIn: "org_kind=public",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := Config{Rates: rates}.Meter(tc.run)
			for _, f := range []struct {
				what      string
				got, want float64
			}{
				{"accelerator-hours", m.AccelHours, tc.accelH}, {"node-hours", m.NodeHours, tc.nodeH},
				{"cpu-core-hours", m.CPUCoreHours, tc.cpuH}, {"energy", m.EnergyKWh, tc.kwh},
				{"cost", m.Cost, tc.cost}, {"public", m.Public, tc.public}, {"private", m.Private, tc.cost - tc.public},
				{"capped", m.CappedHours, tc.capped}, {"norm hours", m.NormHours, tc.normH},
				{"carbon", m.CarbonKg, m.EnergyKWh * m.CarbonFactor / 1000},
			} {
				if !near(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.what, f.got, f.want)
				}
			}
			if !strings.HasPrefix(m.PowerSource, tc.powerSource) || m.CarbonSource != tc.carbonSrc || !strings.Contains(m.Policy, tc.policyIn) {
				t.Errorf("power %q, carbon %q, policy %q; want %q, %q, %q", m.PowerSource, m.CarbonSource, m.Policy, tc.powerSource, tc.carbonSrc, tc.policyIn)
			}
			if m.Utilisation != DefaultUtilisation || m.PUE != 1.2 || m.Mode != core.QoSNormal {
				t.Errorf("utilisation %v, PUE %v, mode %q", m.Utilisation, m.PUE, m.Mode)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		c    Config
		want string // in the error; "" = valid
	}{
		"zero is the default":  {c: Config{}},
		"default policy":       {c: Config{Utilisation: 0.6, Policy: DefaultPolicy()}},
		"utilisation above 1":  {c: Config{Utilisation: 1.5}, want: "utilisation"},
		"unknown org kind":     {c: Config{Policy: Policy{Rules: []Rule{{OrgKind: "charity"}}}}, want: "rules[0].org_kind"},
		"share above 1":        {c: Config{Policy: Policy{Rules: []Rule{{Public: 1}, {Public: 2}}}}, want: "rules[1].public_share"},
		"negative cap":         {c: Config{Policy: Policy{Rules: []Rule{{CapAccelHours: -1}}}}, want: "cap_accelerator_hours"},
		"after-cap share is 7": {c: Config{Policy: Policy{Rules: []Rule{{AfterCap: 7}}}}, want: "public_share_after_cap"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestSummariseBadGrouping(t *testing.T) {
	if _, err := Summarise(nil, "colour", ""); err == nil || !strings.Contains(err.Error(), "by:") {
		t.Errorf("by=colour: %v", err)
	}
	if _, err := Summarise(nil, "period", "week"); err == nil || !strings.Contains(err.Error(), "period:") {
		t.Errorf("period=week: %v", err)
	}
}

// The acceptance's property: for random runs, public + private = cost for
// every meter, and for every grouping the rows' totals equal the sums of
// the per-job meters (and count each job once).
func TestPropertyTotals(t *testing.T) {
	kinds := []string{core.OrgResearch, core.OrgSME, core.OrgStartup, core.OrgIndustry, core.OrgPublic, ""}
	siteKinds := []string{core.SiteFactory, core.SiteGigafactory, core.SiteLocal, core.SiteAntenna}
	modes := []string{"", core.QoSPlayground, core.QoSLargeScale}
	countries := []string{"FI", "DE", "PL", "XX"}
	// A small cap and a part-public share beyond it, so that splits cross
	// caps and fractions round.
	cfg := Config{Utilisation: 0.55, Policy: DefaultPolicy()}
	for i := range cfg.Policy.Rules {
		if cfg.Policy.Rules[i].CapAccelHours > 0 {
			cfg.Policy.Rules[i].CapAccelHours, cfg.Policy.Rules[i].AfterCap = 500, 0.3
		}
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 15))
		var meters []core.Meter
		capUsed := map[string]float64{}
		for i := range 300 {
			accels := 1 + rng.IntN(8)
			j := job(accels, 1)
			j.ID = core.JobID(1 + rng.IntN(120))
			j.Attempt = i
			j.Project = []string{"a", "b", "c", "d"}[rng.IntN(4)]
			j.Org = "org-" + j.Project
			j.Spec.QoS = modes[rng.IntN(len(modes))]
			s := site(siteKinds[rng.IntN(len(siteKinds))], countries[rng.IntN(len(countries))], h100)
			s.PricePerAccelHour = rng.Float64() * 5
			start := t0.Add(time.Duration(rng.IntN(90*24)) * time.Hour)
			end := start.Add(time.Duration(rng.IntN(4000)) * time.Minute)
			m := cfg.Meter(Run{Job: j, Start: start, End: end, Site: s, OrgKind: kinds[rng.IntN(len(kinds))], CapUsed: capUsed[j.Project]})
			capUsed[j.Project] += m.CappedHours
			if !near(m.Public+m.Private, m.Cost) || m.Public < 0 || m.Private < 0 {
				t.Fatalf("seed %d: public %v + private %v != cost %v", seed, m.Public, m.Private, m.Cost)
			}
			meters = append(meters, m)
		}
		var want core.MeterRow
		jobs := map[core.JobID]bool{}
		for _, m := range meters {
			Add(&want, m)
			jobs[m.JobID] = true
		}
		for _, by := range Groupings {
			for _, period := range Periods {
				rows, err := Summarise(meters, by, period)
				if err != nil {
					t.Fatal(err)
				}
				var got core.MeterRow
				jobsInRows := 0
				for _, r := range rows {
					addRow(&got, r)
					jobsInRows += r.Jobs
				}
				if got.Meters != want.Meters || !nearRow(got, want) {
					t.Errorf("seed %d by %s/%s: rows total %+v, meters total %+v", seed, by, period, got, want)
				}
				if by == "project" && jobsInRows < len(jobs) {
					t.Errorf("seed %d: %d jobs in rows, %d distinct jobs", seed, jobsInRows, len(jobs))
				}
			}
		}
	}
}

func addRow(to *core.MeterRow, r core.MeterRow) {
	to.Meters += r.Meters
	to.AccelHours += r.AccelHours
	to.NormHours += r.NormHours
	to.NodeHours += r.NodeHours
	to.CPUCoreHours += r.CPUCoreHours
	to.EnergyKWh += r.EnergyKWh
	to.CarbonKg += r.CarbonKg
	to.Cost += r.Cost
	to.Public += r.Public
	to.Private += r.Private
}

func nearRow(a, b core.MeterRow) bool {
	return near(a.AccelHours, b.AccelHours) && near(a.NormHours, b.NormHours) && near(a.NodeHours, b.NodeHours) &&
		near(a.CPUCoreHours, b.CPUCoreHours) && near(a.EnergyKWh, b.EnergyKWh) && near(a.CarbonKg, b.CarbonKg) &&
		near(a.Cost, b.Cost) && near(a.Public, b.Public) && near(a.Private, b.Private)
}
