package core

import "time"

// Global roles beside RoleAdmin, RoleOrgAdmin and RoleUser (issue 14): an
// operator runs named sites (drain, resume, their jobs), an allocator
// manages calls and awards, a reviewer reviews the proposals assigned to
// them. A project's PI and members are roles in the project
// (ProjectMember), not global ones.
const (
	RoleOperator  = "operator"
	RoleAllocator = "allocator"
	RoleReviewer  = "reviewer"
)

// Project roles.
const (
	ProjectPI     = "pi"
	ProjectMember = "member"
)

// Award is compute awarded to a project: accelerator-hours per accelerator
// model (canonical model names), valid from ValidFrom to ValidTo, at Sites
// (empty: any site offering the model). Hours of different models are
// normalised by the network's exchange rates (config), so one award is
// spent at several sites. ID follows the EuroHPC style
// ("EHPC-AIF-2026PG01-1124").
type Award struct {
	ID        string             `json:"id"`
	Project   string             `json:"project"`
	Proposal  string             `json:"proposal,omitempty"`
	Call      string             `json:"call,omitempty"`
	Mode      string             `json:"mode,omitempty"` // the call's access mode: a QoS name
	Hours     map[string]float64 `json:"hours"`          // accelerator-hours by model
	ValidFrom time.Time          `json:"valid_from"`
	ValidTo   time.Time          `json:"valid_to"`
	Sites     []string           `json:"sites,omitempty"`
	// Overdraft is the share of the award that may be spent beyond it
	// before jobs are held (0.1: up to 110%).
	Overdraft float64   `json:"overdraft,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}
