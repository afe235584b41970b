package core

import "time"

// Meter is what one run of a job used and cost (issue 15): written once,
// when the run ends (one per attempt of a job that was preempted or
// requeued), in the same transaction as the job's state, and never changed.
// Package meter computes it; the figures' assumptions are kept with it so
// that a report says how each was reached.
type Meter struct {
	JobID   JobID `json:"job_id"`
	Attempt int   `json:"attempt"`
	// Who ran it: the project, its organisation and the organisation's
	// kind (research, sme...), the user, and the access mode (the job's
	// QoS; "normal" when it gave none).
	Project string `json:"project"`
	Org     string `json:"org"`
	OrgKind string `json:"org_kind"`
	User    string `json:"user"`
	Mode    string `json:"mode"`
	// Where and on what: the site, its kind and country, the pool and its
	// accelerator model.
	Site     string `json:"site"`
	SiteKind string `json:"site_kind"`
	Country  string `json:"country"`
	Pool     string `json:"pool,omitempty"`
	Model    string `json:"model"`
	// State is how the run ended: the job's final state, or "requeued"
	// for a run cut short and put back in the queue.
	State string    `json:"state"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`

	Accelerators float64 `json:"accelerators"` // held, decimal
	Nodes        int     `json:"nodes"`
	AccelHours   float64 `json:"accelerator_hours"`
	NodeHours    float64 `json:"node_hours"`
	CPUCoreHours float64 `json:"cpu_core_hours"`
	// NormHours are AccelHours in the unit-hours of the project's award
	// (NormUnit, e.g. "NVIDIA H100") at the network's exchange rates;
	// zero when the project had no award when the run started.
	Award     string  `json:"award,omitempty"`
	NormUnit  string  `json:"norm_unit,omitempty"`
	NormHours float64 `json:"norm_hours,omitempty"`

	// Energy: accelerators x PowerW x Utilisation x hours x PUE.
	PowerW       float64 `json:"power_w"`
	PowerSource  string  `json:"power_source"`
	Utilisation  float64 `json:"utilisation"`
	PUE          float64 `json:"pue"`
	EnergyKWh    float64 `json:"energy_kwh"`
	CarbonFactor float64 `json:"carbon_g_per_kwh"`
	CarbonYear   int     `json:"carbon_year,omitempty"`
	CarbonSource string  `json:"carbon_source"`
	CarbonKg     float64 `json:"carbon_kg"`

	// Cost is AccelHours at the site's price, in euros; Public and
	// Private split it (Public + Private = Cost) by Policy, the co-funding
	// rule in force, written out. CappedHours are the accelerator-hours
	// of this run counted against the rule's cap.
	Price       float64 `json:"price_per_accelerator_hour"`
	Cost        float64 `json:"cost_eur"`
	Public      float64 `json:"public_eur"`
	Private     float64 `json:"private_eur"`
	Policy      string  `json:"policy"`
	CappedHours float64 `json:"capped_hours,omitempty"`
}

// MeterRow is one line of a usage report: the sums of the meters of one
// group (a project, an organisation, a site, a period...).
type MeterRow struct {
	Key          string  `json:"key"`
	Jobs         int     `json:"jobs"`   // distinct jobs
	Meters       int     `json:"meters"` // runs (attempts)
	AccelHours   float64 `json:"accelerator_hours"`
	NormHours    float64 `json:"norm_hours"`
	NodeHours    float64 `json:"node_hours"`
	CPUCoreHours float64 `json:"cpu_core_hours"`
	EnergyKWh    float64 `json:"energy_kwh"`
	CarbonKg     float64 `json:"carbon_kg"`
	Cost         float64 `json:"cost_eur"`
	Public       float64 `json:"public_eur"`
	Private      float64 `json:"private_eur"`
}
