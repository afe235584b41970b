package meter

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Policy is a co-funding policy: who pays a run's cost, by organisation
// kind, access mode and site kind. The first rule that matches a meter
// decides; a meter no rule matches is paid privately (cost recovery).
type Policy struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is one line of a Policy. Empty match fields match anything.
type Rule struct {
	OrgKind   string   `json:"org_kind,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	SiteKinds []string `json:"site_kinds,omitempty"`
	// Public is the share of the cost paid from public funds (0 to 1).
	Public float64 `json:"public_share"`
	// CapAccelHours, when positive, bounds the accelerator-hours per
	// project paid at Public; the hours beyond are paid at AfterCap.
	CapAccelHours float64 `json:"cap_accelerator_hours,omitempty"`
	AfterCap      float64 `json:"public_share_after_cap,omitempty"`
}

// DefaultCapAccelHours is the default cap of free accelerator-hours per
// project for startups and SMEs at AI Factories: the size of an AI
// Factory Fast Lane allocation (up to 50,000 GPU-hours, EU-FACTS.md 2.1).
const DefaultCapAccelHours = 50000

// DefaultPolicy is the policy when the configuration gives none, after
// the AI Factories' terms of access (EU-FACTS.md 2.1): research and the
// public sector free at the point of use; AI startups and SMEs free at AI
// Factories (and their antennas) up to DefaultCapAccelHours per project,
// then at cost; other industry, and anyone elsewhere, at cost recovery.
func DefaultPolicy() Policy {
	factories := []string{core.SiteFactory, core.SiteAntenna}
	return Policy{Name: "default", Rules: []Rule{
		{OrgKind: core.OrgResearch, Public: 1},
		{OrgKind: core.OrgPublic, Public: 1},
		{OrgKind: core.OrgStartup, SiteKinds: factories, Public: 1, CapAccelHours: DefaultCapAccelHours},
		{OrgKind: core.OrgSME, SiteKinds: factories, Public: 1, CapAccelHours: DefaultCapAccelHours},
		{OrgKind: core.OrgIndustry, Public: 0},
	}}
}

// noRule is what a meter that no rule matches is split by.
var noRule = Rule{Public: 0}

// Validate checks p, naming the rule and field at fault.
func (p Policy) Validate() error {
	for i, r := range p.Rules {
		at := fmt.Sprintf("meter: policy %q: rules[%d]", p.Name, i)
		if r.OrgKind != "" && !core.ValidOrgKind(r.OrgKind) {
			return fmt.Errorf("%s.org_kind: unknown kind %q", at, r.OrgKind)
		}
		if !share(r.Public) {
			return fmt.Errorf("%s.public_share: %v is not between 0 and 1", at, r.Public)
		}
		if !share(r.AfterCap) {
			return fmt.Errorf("%s.public_share_after_cap: %v is not between 0 and 1", at, r.AfterCap)
		}
		if r.CapAccelHours < 0 || math.IsNaN(r.CapAccelHours) || math.IsInf(r.CapAccelHours, 0) {
			return fmt.Errorf("%s.cap_accelerator_hours: %v is negative or not a number", at, r.CapAccelHours)
		}
	}
	return nil
}

func share(x float64) bool { return x >= 0 && x <= 1 }

// Match is the first rule of p for an organisation kind, access mode and
// site kind; ok is false when none matches.
func (p Policy) Match(orgKind, mode, siteKind string) (Rule, bool) {
	for _, r := range p.Rules {
		if r.OrgKind != "" && r.OrgKind != orgKind || r.Mode != "" && r.Mode != mode {
			continue
		}
		if len(r.SiteKinds) > 0 && !slices.Contains(r.SiteKinds, siteKind) {
			continue
		}
		return r, true
	}
	return Rule{}, false
}

// Split divides cost, the price of accelHours, into its public and private
// shares, given capUsed accelerator-hours of the project counted against
// the rule's cap before. capped is the part of accelHours counted against
// the cap now. private is the remainder, so public + private is cost (to
// the last bit of a float64).
func (r Rule) Split(cost, accelHours, capUsed float64) (public, private, capped float64) {
	if r.CapAccelHours <= 0 || accelHours <= 0 {
		public = cost * r.Public
		return public, cost - public, 0
	}
	capped = min(accelHours, max(0, r.CapAccelHours-capUsed))
	in := capped / accelHours
	public = cost*in*r.Public + cost*(1-in)*r.AfterCap
	public = min(public, cost)
	return public, cost - public, capped
}

// String writes r as a meter records it: "org_kind=sme site_kind=factory:
// 100% public up to 50000 accelerator-hours per project, then 0%".
func (r Rule) String() string {
	var match []string
	if r.OrgKind != "" {
		match = append(match, "org_kind="+r.OrgKind)
	}
	if r.Mode != "" {
		match = append(match, "mode="+r.Mode)
	}
	if len(r.SiteKinds) > 0 {
		match = append(match, "site_kind="+strings.Join(r.SiteKinds, "|"))
	}
	if len(match) == 0 {
		match = append(match, "any")
	}
	s := strings.Join(match, " ") + fmt.Sprintf(": %g%% public", 100*r.Public)
	if r.CapAccelHours > 0 {
		s += fmt.Sprintf(" up to %g accelerator-hours per project, then %g%%", r.CapAccelHours, 100*r.AfterCap)
	}
	return s
}
