package access

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// CheckAward says whether award a may be made on proposal p of call c,
// given the awards the call has made already and p's reviews: the
// proposal may be decided (CheckDecision) and is fundable, the hours are
// positive, of models the call offers and no more than asked per model,
// the period ends after it starts, the sites are the call's, and the
// call's total is not passed. Hours of different models are added as
// they are: a call's total is in accelerator-hours of its models.
func CheckAward(c core.Call, p core.Proposal, reviews []core.Review, awarded []core.Award, a core.Award) error {
	if err := CheckDecision(c, p, reviews); err != nil {
		return err
	}
	m := Modes[c.Mode]
	if m.Reviewed() {
		ranked := Rank(c, []core.Proposal{p}, reviews)
		if len(ranked) == 1 && !ranked[0].Fundable {
			return fmt.Errorf("proposal %s is not fundable: %s: %w", p.ID, ranked[0].Note, ErrState)
		}
	}
	if len(a.Hours) == 0 {
		return fieldErr("hours", "award hours for at least one model the proposal asked (%v)", sortedKeys(p.Hours))
	}
	for _, model := range sortedKeys(a.Hours) {
		h := a.Hours[model]
		if h <= 0 || math.IsInf(h, 0) || math.IsNaN(h) {
			return fieldErr("hours."+model, "want a positive number of hours, got %g", h)
		}
		if !slices.Contains(c.Models, model) {
			return fieldErr("hours."+model, "call %s offers %v, not %s", c.ID, c.Models, model)
		}
		if h > p.Hours[model] {
			return fieldErr("hours."+model, "%g hours; the proposal asked %g", h, p.Hours[model])
		}
	}
	if !a.ValidTo.After(a.ValidFrom) {
		return fieldErr("valid_to", "must be after valid_from (%s)", a.ValidFrom.Format(time.RFC3339))
	}
	for i, s := range a.Sites {
		if len(c.Sites) > 0 && !slices.Contains(c.Sites, s) {
			return fieldErr(fmt.Sprintf("sites[%d]", i), "call %s offers %v, not %s", c.ID, c.Sites, s)
		}
	}
	if a.Overdraft < 0 || a.Overdraft > 1 || math.IsNaN(a.Overdraft) {
		return fieldErr("overdraft", "want a share from 0 to 1, got %g", a.Overdraft)
	}
	var used float64
	for _, o := range awarded {
		if o.Call == c.ID && o.ID != a.ID {
			used += TotalHours(o.Hours)
		}
	}
	if want := TotalHours(a.Hours); used+want > c.TotalHours {
		return fieldErr("hours", "%g hours would pass call %s's total: %g of %g awarded, %g left", want, c.ID, used, c.TotalHours, c.TotalHours-used)
	}
	return nil
}

// CheckExtension says whether award a may become next: the same award
// (project, call, proposal), valid no shorter, hours no fewer per model.
// The call's total is not asked again: an extension is the allocator's
// decision beyond the call.
func CheckExtension(a, next core.Award) error {
	if next.ValidTo.Before(a.ValidTo) {
		return fieldErr("valid_to", "an extension cannot end earlier than %s", a.ValidTo.Format(time.RFC3339))
	}
	for model, h := range a.Hours {
		if next.Hours[model] < h {
			return fieldErr("hours."+model, "an extension cannot take hours away (%g, was %g)", next.Hours[model], h)
		}
	}
	for _, model := range sortedKeys(next.Hours) {
		if h := next.Hours[model]; h <= 0 || math.IsInf(h, 0) || math.IsNaN(h) {
			return fieldErr("hours."+model, "want a positive number of hours, got %g", h)
		}
	}
	return nil
}
