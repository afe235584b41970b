package core

import "time"

// The access process (issue 14): an allocator opens a Call; a project's
// principal investigator writes a Proposal to it; reviewers assigned to
// the proposal score it (Review); an allocator awards it (Award, in
// access.go) or rejects it. Package access holds the rules; these are the
// records the store keeps and the API shows.

// Call states.
const (
	CallDraft  = "draft"  // being written: only allocators see it
	CallOpen   = "open"   // takes proposals
	CallClosed = "closed" // takes none; its proposals are reviewed and decided
)

// Call is an invitation to apply for compute in one access mode (a QoS
// name: playground, fast-lane, large-scale, moonshot). Its ID follows the
// EuroHPC style, "EHPC-AIF-2026PG01": the year, the mode's code and the
// cut-off's number.
type Call struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Mode  string `json:"mode"`
	State string `json:"state"`
	// Opens and Closes bound when proposals may be submitted; Closes is
	// the cut-off. A zero Closes means a continuous call.
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes,omitzero"`
	// Kinds are the organisation kinds that may apply (empty: every kind);
	// Countries the countries (empty: EU member states and associated
	// countries, access.Eligible).
	Kinds     []string `json:"kinds,omitempty"`
	Countries []string `json:"countries,omitempty"`
	// Invited are the organisations a moonshot call is open to.
	Invited []string `json:"invited,omitempty"`
	// Sites and Models are what the call offers (empty Sites: any site
	// offering one of Models).
	Sites  []string `json:"sites,omitempty"`
	Models []string `json:"models"`
	// TotalHours is the accelerator-hours the call may award in all.
	TotalHours float64 `json:"total_hours"`
	// MaxHours bounds one proposal's request (0: the mode's bound).
	MaxHours  float64   `json:"max_hours,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Proposal states: draft → submitted → under-review → awarded | rejected;
// withdrawn from any state before a decision.
const (
	ProposalDraft       = "draft"
	ProposalSubmitted   = "submitted"
	ProposalUnderReview = "under-review"
	ProposalAwarded     = "awarded"
	ProposalRejected    = "rejected"
	ProposalWithdrawn   = "withdrawn"
)

// Proposal is a principal investigator's application to a call for a
// project. Its ID is the call's ID and a serial number
// ("EHPC-AIF-2026PG01-1124"); an award made on it keeps that ID.
type Proposal struct {
	ID       string `json:"id"`
	Call     string `json:"call"`
	Project  string `json:"project"`
	Org      string `json:"org"` // the project's organisation
	PI       string `json:"pi"`
	Title    string `json:"title"`
	Abstract string `json:"abstract,omitempty"`
	// Hours are the accelerator-hours asked, by accelerator model.
	Hours map[string]float64 `json:"hours"`
	// Start and End are the period the compute is wanted for.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Residency lists the countries the project's data must stay in
	// (empty: no constraint).
	Residency []string `json:"residency,omitempty"`
	State     string   `json:"state"`
	// Decision says why a proposal was rejected, or notes the award.
	Decision    string     `json:"decision,omitempty"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Review scores range from MinScore to MaxScore; 0 means not scored.
const (
	MinScore = 1
	MaxScore = 5
)

// Review is one reviewer's assignment to a proposal and, once given, their
// scores: Technical (feasibility, readiness) and Scientific (excellence,
// impact), each MinScore to MaxScore. A reviewer who finds a conflict after
// assignment declares it (Conflict) and the review no longer counts.
type Review struct {
	Proposal       string     `json:"proposal"`
	Reviewer       string     `json:"reviewer"`
	Technical      int        `json:"technical,omitempty"`
	Scientific     int        `json:"scientific,omitempty"`
	Comments       string     `json:"comments,omitempty"`
	Conflict       bool       `json:"conflict,omitempty"`
	ConflictReason string     `json:"conflict_reason,omitempty"`
	AssignedAt     time.Time  `json:"assigned_at"`
	AssignedBy     string     `json:"assigned_by,omitempty"`
	SubmittedAt    *time.Time `json:"submitted_at,omitempty"`
}

// Conflict is a reviewer's declared conflict of interest with an
// organisation or a project (one of the two): they are not assigned its
// proposals.
type Conflict struct {
	Reviewer   string    `json:"reviewer"`
	Org        string    `json:"org,omitempty"`
	Project    string    `json:"project,omitempty"`
	Reason     string    `json:"reason"`
	DeclaredAt time.Time `json:"declared_at"`
}

// Membership makes a user a project's principal investigator (ProjectPI)
// or a member (ProjectMember). (Named Membership because ProjectMember is
// already the role's name.)
type Membership struct {
	Project string    `json:"project"`
	User    string    `json:"user"`
	Role    string    `json:"role"`
	AddedAt time.Time `json:"added_at"`
	AddedBy string    `json:"added_by,omitempty"`
}

// NewProposal is the body that creates a proposal (POST /api/v1/proposals):
// a draft, or submitted at once with Submit.
type NewProposal struct {
	Call      string             `json:"call"`
	Project   string             `json:"project"`
	Title     string             `json:"title"`
	Abstract  string             `json:"abstract,omitempty"`
	Hours     map[string]float64 `json:"hours"`
	Start     time.Time          `json:"start"`
	End       time.Time          `json:"end"`
	Residency []string           `json:"residency,omitempty"`
	Submit    bool               `json:"submit,omitempty"`
}

// ReviewScores are a reviewer's scores of a proposal, or their declared
// conflict with it (POST /api/v1/proposals/{id}/review).
type ReviewScores struct {
	Technical      int    `json:"technical,omitempty"`
	Scientific     int    `json:"scientific,omitempty"`
	Comments       string `json:"comments,omitempty"`
	Conflict       bool   `json:"conflict,omitempty"`
	ConflictReason string `json:"conflict_reason,omitempty"`
}
