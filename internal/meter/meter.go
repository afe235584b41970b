// Package meter says what a run of a job used and cost (issue 15):
// accelerator-, node- and CPU-core-hours, hours normalised to an award's
// unit, energy, carbon and cost, and who pays it (co-funding). It is pure:
// no I/O, no clock; the daemon and the twin give it the run, the site and
// the organisation, and store what it returns.
//
//	run (job, allocation, start, end) ─┐
//	site (pools, PUE, price, country) ─┼─▶ Config.Meter ─▶ core.Meter ─▶ store (with the job's end)
//	org kind, award, cap used so far ──┘                        │
//	                                                 Summarise(by, period) ─▶ gf usage
package meter

import (
	"fmt"
	"math"
	"time"

	"github.com/gigafactory/gigafactory/internal/award"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// DefaultUtilisation is the share of its board power (TDP) an accelerator
// is assumed to draw while a job holds it, when nothing measured says
// otherwise. 0.4 is the utilisation the AI Act ledger assumes of peak
// throughput by default; training draws more of its TDP, idle
// reservations less, so a meter records the value it used.
const DefaultUtilisation = 0.4

// Config is how meters are computed: the utilisation assumption, the
// co-funding policy and the exchange rates awards are normalised with.
// The zero Config is usable: DefaultUtilisation and DefaultPolicy.
type Config struct {
	Utilisation float64
	Policy      Policy
	Rates       award.Rates
}

// Validate checks c, naming the field at fault.
func (c Config) Validate() error {
	if c.Utilisation < 0 || c.Utilisation > 1 || math.IsNaN(c.Utilisation) {
		return fmt.Errorf("meter: utilisation: %v is not between 0 and 1", c.Utilisation)
	}
	return c.Policy.Validate()
}

func (c Config) utilisation() float64 {
	if c.Utilisation > 0 {
		return c.Utilisation
	}
	return DefaultUtilisation
}

func (c Config) policy() Policy {
	if len(c.Policy.Rules) == 0 && c.Policy.Name == "" {
		return DefaultPolicy()
	}
	return c.Policy
}

// Run is one run of a job to be metered.
type Run struct {
	// Job is the job as it ran: its Alloc, Spec, Project, Org, User,
	// Attempt. Its StartTime and EndTime are not read: Start and End are.
	Job        core.Job
	Start, End time.Time
	// State is how the run ended: the job's final state, or "requeued".
	State string
	// Site is the site the run was on.
	Site core.Site
	// OrgKind is the kind of the job's organisation ("" when unknown).
	OrgKind string
	// Award is the project's award the run is charged to, if any.
	Award *core.Award
	// CapUsed is the accelerator-hours of the project's earlier runs
	// counted against a co-funding cap (the sum of their CappedHours).
	CapUsed float64
}

// Meter computes the meter of run r.
func (c Config) Meter(r Run) core.Meter {
	j := r.Job
	// The access mode is the award's (the call's mode) when the run is
	// charged to one that names it, else the job's QoS.
	mode := j.Spec.QoS
	if r.Award != nil && r.Award.Mode != "" {
		mode = r.Award.Mode
	}
	if mode == "" {
		mode = core.QoSNormal
	}
	m := core.Meter{
		JobID: j.ID, Attempt: j.Attempt, Project: j.Project, Org: j.Org, OrgKind: r.OrgKind, User: j.User, Mode: mode,
		Site: r.Site.ID, SiteKind: r.Site.Kind, Country: r.Site.Country,
		State: r.State, Start: r.Start.UTC(), End: r.End.UTC(),
	}
	hours := 0.0
	if r.End.After(r.Start) {
		hours = r.End.Sub(r.Start).Hours()
	}
	var pool core.Pool
	if j.Alloc != nil {
		pool = poolOf(r.Site, j.Alloc.FirstPool()) // a gang across pools: all of one model
		m.Pool = pool.Name
		if len(j.Alloc.Pools()) > 1 {
			m.Pool = j.Alloc.Pool
		}
		m.Accelerators = float64(j.Alloc.Accelerators()) / 1000
		m.Nodes = len(j.Alloc.Nodes)
	}
	m.Model = pool.Model
	if m.Model == "" {
		m.Model = j.Spec.Model
	}
	m.AccelHours = m.Accelerators * hours
	m.NodeHours = float64(m.Nodes) * hours
	m.CPUCoreHours = cores(j.Spec, pool, m.Accelerators, m.Nodes) * hours
	if r.Award != nil {
		m.Award = r.Award.ID
		m.NormUnit = award.Unit(*r.Award)
		m.NormHours = award.Charge(c.Rates, m.Model, m.NormUnit, m.AccelHours)
	}

	m.PowerW, m.PowerSource = power(pool, m.Model)
	m.Utilisation = c.utilisation()
	m.PUE = r.Site.PUE
	if m.PUE <= 0 {
		m.PUE = 1 // unknown: count the IT load only
	}
	m.EnergyKWh = m.Accelerators * m.PowerW * m.Utilisation * hours * m.PUE / 1000
	f := Carbon(r.Site)
	m.CarbonFactor, m.CarbonYear, m.CarbonSource = f.GCO2ePerKWh, f.Year, f.Source
	m.CarbonKg = m.EnergyKWh * m.CarbonFactor / 1000

	m.Price = r.Site.PricePerAccelHour
	m.Cost = m.AccelHours * m.Price
	rule, ok := c.policy().Match(m.OrgKind, m.Mode, m.SiteKind)
	if !ok {
		rule = noRule
	}
	m.Public, m.Private, m.CappedHours = rule.Split(m.Cost, m.AccelHours, r.CapUsed)
	m.Policy = c.policy().Name + ": " + rule.String()
	return m
}

// poolOf is the pool named name at site s (the only one when name is
// empty and s has one).
func poolOf(s core.Site, name string) core.Pool {
	for _, p := range s.Pools {
		if p.Name == name || name == "" && len(s.Pools) == 1 {
			return p
		}
	}
	return core.Pool{}
}

// cores is the CPU cores a run holds: what the job asked for per
// accelerator or per task; else whole nodes' cores for an exclusive job
// or a pool without accelerators; else the accelerators' share of their
// nodes' cores.
func cores(s core.JobSpec, p core.Pool, accels float64, nodes int) float64 {
	switch {
	case s.CPUsPerAccel > 0:
		return accels * float64(s.CPUsPerAccel)
	case s.CPUsPerTask > 0:
		tasks := max(s.Tasks, s.TasksPerNode*nodes, 1)
		return float64(tasks * s.CPUsPerTask)
	case s.Exclusive || p.AccelPerNode == 0:
		return float64(nodes * p.CPUsPerNode)
	default:
		return accels / float64(p.AccelPerNode) * float64(p.CPUsPerNode)
	}
}

// power is an accelerator's board power: the pool's when it gives one,
// else the reference TDP of its model.
func power(p core.Pool, model string) (float64, string) {
	if p.PowerW > 0 {
		return float64(p.PowerW), "pool " + p.Name
	}
	if a, ok := config.LookupAccelerator(model); ok && a.TDPW > 0 {
		return float64(a.TDPW), "TDP of " + a.Model + " (accelerators.json)"
	}
	return 0, "unknown"
}

// PowerW is the board power of one accelerator of pool p and where the
// figure comes from (the pool, or its model's reference TDP).
func PowerW(p core.Pool) (float64, string) { return power(p, p.Model) }

// Carbon is the carbon intensity of site s's electricity with its source:
// the site's own carbon_g_per_kwh when it differs from its country's
// grid figure, else the country's (grid-carbon-intensity.json; the EU
// mean for a country the file lacks).
func Carbon(s core.Site) config.CarbonFactor {
	f, _ := config.GridCarbonFactor(s.Country)
	if s.CarbonGPerKWh > 0 && math.Abs(s.CarbonGPerKWh-f.GCO2ePerKWh) > 1e-9 {
		return config.CarbonFactor{Country: s.Country, GCO2ePerKWh: s.CarbonGPerKWh, Source: "site " + s.ID + " carbon_g_per_kwh"}
	}
	return f
}

// UtilisationUsed is the utilisation assumption c applies (its own, or
// DefaultUtilisation).
func (c Config) UtilisationUsed() float64 { return c.utilisation() }
