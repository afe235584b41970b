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

// ProjectUsage is the answer of GET /api/v1/projects/{name}/usage: the project's current
// award (awarded, used, remaining, in the award's unit-hours at the
// network's exchange rates) and what its jobs used, by site and model.
type ProjectUsage struct {
	Project   string  `json:"project"`
	Award     *Award  `json:"award,omitempty"`
	Unit      string  `json:"unit,omitempty"`
	Awarded   float64 `json:"awarded_hours"`
	Used      float64 `json:"used_hours"`
	Remaining float64 `json:"remaining_hours"`
	// Held is why the project's jobs wait, when its award holds them.
	Held string `json:"held,omitempty"`
	// BySiteModel is every run of the project's jobs, summed by where it
	// ran: accelerator-hours as used, and charged in the award's unit.
	BySiteModel []UsageRow `json:"by_site_model"`
}

// UsageRow is the use of one model at one site.
type UsageRow struct {
	Site             string  `json:"site"`
	Model            string  `json:"model"`
	Jobs             int     `json:"jobs"`
	AcceleratorHours float64 `json:"accelerator_hours"`
	ChargedHours     float64 `json:"charged_hours,omitempty"`
}

// Whoami is the answer of GET /api/v1/whoami: the caller, their roles and
// how they authenticated.
type Whoami struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Org   string `json:"org"`
	// Kind is person or service.
	Kind string `json:"kind"`
	// Role is the global role.
	Role string `json:"role"`
	// Roles are the global role, then the caller's project roles as
	// "ROLE:PROJECT" (pi:EHPC-AIF-2026PG01-1124, member:...).
	Roles []string `json:"roles"`
	// Auth is how the request authenticated: token (a Gigafactory API
	// token) or oidc (a federated login).
	Auth  string       `json:"auth"`
	Token *WhoamiToken `json:"token,omitempty"`
}

// WhoamiToken is the token a whoami request came with.
type WhoamiToken struct {
	ID        int64      `json:"id,omitempty"`
	Label     string     `json:"label,omitempty"`
	Scope     string     `json:"scope"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}
