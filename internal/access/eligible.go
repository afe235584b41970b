package access

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// EUMembers are the 27 member states of the European Union (ISO 3166-1
// alpha-2; Greece is GR). Source: https://european-union.europa.eu/principles-countries-history/eu-countries_en
var EUMembers = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}

// Associated are the countries associated to Horizon Europe or Digital
// Europe, the programmes whose participants EuroHPC AI Factory calls admit
// (EU-FACTS.md 2.1). Source: the European Commission's "List of
// participating countries in Horizon Europe" (Horizon Europe programme
// guide, version of 2025: AL, AM, BA, CA, CH from 2025, FO, GB, GE, IL,
// IS, KR from 2025, MD, ME, MK, NO, NZ, RS, TN, TR, UA, XK) and the
// Digital Europe associations (LI besides those). Medium confidence:
// check the list when a call's terms name their own; a call may narrow it
// with Countries.
var Associated = []string{
	"AL", "AM", "BA", "CA", "CH", "FO", "GB", "GE", "IL", "IS", "KR", "LI", "MD", "ME",
	"MK", "NO", "NZ", "RS", "TN", "TR", "UA", "XK",
}

// EligibleCountry reports whether an organisation of country may apply to
// EuroHPC calls: an EU member state or an associated country.
func EligibleCountry(country string) bool {
	c := strings.ToUpper(country)
	return slices.Contains(EUMembers, c) || slices.Contains(Associated, c)
}

// Eligible says whether organisation o may apply to call c, and if not,
// why: its kind, its country, or (moonshot) not being invited.
func Eligible(c core.Call, o core.Org) error {
	if len(c.Kinds) > 0 && !slices.Contains(c.Kinds, o.Kind) {
		return fieldErr("project", "organisation %s is of kind %s; call %s admits %s", o.Name, o.Kind, c.ID, strings.Join(c.Kinds, ", "))
	}
	if !EligibleCountry(o.Country) {
		return fieldErr("project", "organisation %s is established in %s, neither an EU member state nor an associated country", o.Name, o.Country)
	}
	if len(c.Countries) > 0 && !slices.Contains(c.Countries, strings.ToUpper(o.Country)) {
		return fieldErr("project", "organisation %s is established in %s; call %s admits %s", o.Name, o.Country, c.ID, strings.Join(c.Countries, ", "))
	}
	if Modes[c.Mode].Invitation && !slices.Contains(c.Invited, o.Name) {
		return fieldErr("project", "call %s is by invitation and organisation %s is not invited", c.ID, o.Name)
	}
	return nil
}

// CheckCall validates a call as an allocator writes it; the error names
// the field.
func CheckCall(c core.Call) error {
	m, ok := Modes[c.Mode]
	if !ok {
		return fieldErr("mode", "want one of %s, got %q", strings.Join(ModeNames, ", "), c.Mode)
	}
	if strings.TrimSpace(c.Title) == "" {
		return fieldErr("title", "required")
	}
	if c.TotalHours <= 0 || math.IsInf(c.TotalHours, 0) || math.IsNaN(c.TotalHours) {
		return fieldErr("total_hours", "want a positive number of accelerator-hours, got %g", c.TotalHours)
	}
	if c.MaxHours < 0 || math.IsNaN(c.MaxHours) || c.MaxHours > c.TotalHours {
		return fieldErr("max_hours", "want 0 (the mode's bound) to total_hours %g, got %g", c.TotalHours, c.MaxHours)
	}
	if m.MaxHours > 0 && c.MaxHours > m.MaxHours {
		return fieldErr("max_hours", "%s proposals ask at most %g hours, got %g", c.Mode, m.MaxHours, c.MaxHours)
	}
	if len(c.Models) == 0 {
		return fieldErr("models", "name at least one accelerator model offered")
	}
	for i, k := range c.Kinds {
		if !core.ValidOrgKind(k) {
			return fieldErr(fmt.Sprintf("kinds[%d]", i), "want research, sme, startup, industry or public; got %q", k)
		}
	}
	for i, ct := range c.Countries {
		if !EligibleCountry(ct) {
			return fieldErr(fmt.Sprintf("countries[%d]", i), "%q is neither an EU member state nor an associated country", ct)
		}
	}
	if m.Invitation && len(c.Invited) == 0 {
		return fieldErr("invited", "a %s call is by invitation: name the invited organisations", c.Mode)
	}
	if !m.Invitation && len(c.Invited) > 0 {
		return fieldErr("invited", "only moonshot calls are by invitation")
	}
	if !c.Closes.IsZero() && !c.Closes.After(c.Opens) {
		return fieldErr("closes", "must be after opens (%s)", c.Opens.Format(time.RFC3339))
	}
	return nil
}

// Accepting says whether call c takes submissions at now: open, and
// within its dates.
func Accepting(c core.Call, now time.Time) error {
	switch {
	case c.State != core.CallOpen:
		return fmt.Errorf("call %s is %s: %w", c.ID, c.State, ErrState)
	case now.Before(c.Opens):
		return fmt.Errorf("call %s opens at %s: %w", c.ID, c.Opens.Format(time.RFC3339), ErrState)
	case !c.Closes.IsZero() && !now.Before(c.Closes):
		return fmt.Errorf("call %s closed at %s (its cut-off): %w", c.ID, c.Closes.Format(time.RFC3339), ErrState)
	}
	return nil
}

// CheckRequest validates what a proposal asks of call c: models the call
// offers, positive hours within the mode's and the call's bounds, a
// period that ends after it starts.
func CheckRequest(c core.Call, p core.Proposal) error {
	if strings.TrimSpace(p.Title) == "" {
		return fieldErr("title", "required")
	}
	if len(p.Hours) == 0 {
		return fieldErr("hours", "ask hours for at least one accelerator model (%s)", strings.Join(c.Models, ", "))
	}
	for _, model := range sortedKeys(p.Hours) {
		h := p.Hours[model]
		if !slices.Contains(c.Models, model) {
			return fieldErr("hours."+model, "call %s offers %s, not %s", c.ID, strings.Join(c.Models, ", "), model)
		}
		if h <= 0 || math.IsInf(h, 0) || math.IsNaN(h) {
			return fieldErr("hours."+model, "want a positive number of hours, got %g", h)
		}
	}
	total := TotalHours(p.Hours)
	m := Modes[c.Mode]
	limit := m.MaxHours
	if c.MaxHours > 0 {
		limit = c.MaxHours
	}
	if limit > 0 && total > limit {
		return fieldErr("hours", "%g hours in all; call %s (%s) admits at most %g", total, c.ID, c.Mode, limit)
	}
	if total > c.TotalHours {
		return fieldErr("hours", "%g hours in all; call %s has %g in total", total, c.ID, c.TotalHours)
	}
	if m.MinHours > 0 && total <= m.MinHours {
		return fieldErr("hours", "%g hours in all; %s is for more than %g (ask the fast lane)", total, c.Mode, m.MinHours)
	}
	if p.Start.IsZero() {
		return fieldErr("start", "required")
	}
	if !p.End.After(p.Start) {
		return fieldErr("end", "must be after start (%s)", p.Start.Format(time.RFC3339))
	}
	for i, ct := range p.Residency {
		if len(ct) != 2 {
			return fieldErr(fmt.Sprintf("residency[%d]", i), "want an ISO 3166-1 alpha-2 code, got %q", ct)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
