// Package award decides what an award allows: how the hours of different
// accelerator models are normalised (exchange rates), what a run costs,
// and when an award is spent, nearly spent or expired, with the reason a
// held job gives. It is pure: usage and time come in as values (the
// daemon reads them from the store and the clock), and it keeps nothing.
package award

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// WarnShare is the share of an award whose use raises the warning event.
const WarnShare = 0.8

// Rates are exchange rates between accelerator models: By[m] is what one
// hour of model m is worth in a common unit (say H100 = 1, A100 = 1/2.3).
// Canon, when set, names a model as By's keys do (users and pools write
// "h100", "NVIDIA H100" or "nvidia-h100" for one model). A model without a
// rate is worth 1.
type Rates struct {
	By    map[string]float64
	Canon func(string) string
}

// Of returns model m's rate.
func (r Rates) Of(m string) float64 {
	if r.Canon != nil {
		m = r.Canon(m)
	}
	if v, ok := r.By[m]; ok && v > 0 {
		return v
	}
	return 1
}

// Unit is the model an award counts in: the one it gives most hours of
// (ties: the first by name), so that "50,000 H100-hours" reads as awarded.
func Unit(a core.Award) string {
	best, hours := "", -1.0
	for _, m := range models(a) {
		if a.Hours[m] > hours {
			best, hours = m, a.Hours[m]
		}
	}
	return best
}

func models(a core.Award) []string {
	ms := make([]string, 0, len(a.Hours))
	for m := range a.Hours {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}

// Total is the award in hours of its unit model: each model's hours
// converted at the rates.
func Total(a core.Award, r Rates) float64 {
	unit := r.Of(Unit(a))
	t := 0.0
	for m, h := range a.Hours {
		t += h * r.Of(m) / unit
	}
	return t
}

// Charge is what accelHours of model cost an award counting in unit.
func Charge(r Rates, model, unit string, accelHours float64) float64 {
	return accelHours * r.Of(model) / r.Of(unit)
}

// State is where an award stands.
type State struct {
	Award     string  `json:"award"`
	Unit      string  `json:"unit"`
	Total     float64 `json:"total_hours"` // in Unit-hours
	Used      float64 `json:"used_hours"`
	Remaining float64 `json:"remaining_hours"`
	// Warn is set from WarnShare of Total; Exhausted once Used reaches
	// Total plus the overdraft; Expired outside [ValidFrom, ValidTo);
	// NotYet before ValidFrom.
	Warn      bool `json:"warn,omitempty"`
	Exhausted bool `json:"exhausted,omitempty"`
	Expired   bool `json:"expired,omitempty"`
	NotYet    bool `json:"not_yet,omitempty"`
}

// Evaluate says where award a stands at now, with used Unit-hours spent.
func Evaluate(a core.Award, r Rates, used float64, now time.Time) State {
	s := State{Award: a.ID, Unit: Unit(a), Total: Total(a, r), Used: used}
	s.Remaining = math.Max(0, s.Total-used)
	s.Warn = used >= WarnShare*s.Total
	s.Exhausted = used >= s.Total*(1+math.Max(0, a.Overdraft))-1e-6 // float slack: 50,000 × 1.1
	s.Expired = !a.ValidTo.IsZero() && !now.Before(a.ValidTo)
	s.NotYet = now.Before(a.ValidFrom)
	return s
}

// Blocks reports whether the award holds its project's jobs now.
func (s State) Blocks() bool { return s.Exhausted || s.Expired || s.NotYet }

// Reason is why a job charged to the award is held, as users read it:
// "award EHPC-AIF-2026PG01-1124 exhausted (50,000 of 50,000 H100-hours)".
func (s State) Reason(a core.Award) string {
	switch {
	case s.Exhausted:
		return fmt.Sprintf("award %s exhausted (%s of %s %s-hours)", a.ID, FormatHours(s.Used), FormatHours(s.Total), modelName(s.Unit))
	case s.Expired:
		return fmt.Sprintf("award %s expired on %s", a.ID, a.ValidTo.UTC().Format("2006-01-02 15:04 MST"))
	case s.NotYet:
		return fmt.Sprintf("award %s is valid from %s", a.ID, a.ValidFrom.UTC().Format("2006-01-02 15:04 MST"))
	}
	return ""
}

// Current is the award a project's jobs are charged to at now: among its
// awards valid now, the one that ends first (it would be lost first);
// else, so that its jobs say why they wait, the one that ended last or
// starts first. ok is false when the project has no award at all.
func Current(awards []core.Award, project string, now time.Time) (core.Award, bool) {
	var valid, other []core.Award
	for _, a := range awards {
		if a.Project != project {
			continue
		}
		if !now.Before(a.ValidFrom) && (a.ValidTo.IsZero() || now.Before(a.ValidTo)) {
			valid = append(valid, a)
		} else {
			other = append(other, a)
		}
	}
	if len(valid) > 0 {
		slices.SortFunc(valid, func(x, y core.Award) int {
			if c := x.ValidTo.Compare(y.ValidTo); c != 0 {
				return c
			}
			return strings.Compare(x.ID, y.ID)
		})
		return valid[0], true
	}
	if len(other) == 0 {
		return core.Award{}, false
	}
	slices.SortFunc(other, func(x, y core.Award) int {
		// Ended ones first, latest end first; then the next to start.
		xe, ye := x.ValidTo.Before(now), y.ValidTo.Before(now)
		switch {
		case xe && !ye:
			return -1
		case !xe && ye:
			return 1
		case xe:
			return y.ValidTo.Compare(x.ValidTo)
		}
		return x.ValidFrom.Compare(y.ValidFrom)
	})
	return other[0], true
}

// FormatHours writes hours as reasons and warnings give them: rounded to
// whole hours with thousands separators ("50,000"), to three significant
// figures under 100 ("12.5", "0.003").
func FormatHours(h float64) string {
	if h < 100 && h != math.Trunc(h) {
		// Three significant figures, so that a small award (a
		// playground's, a test's 0.003) does not read "0.0 of 0.0".
		return strconv.FormatFloat(h, 'g', 3, 64)
	}
	s := strconv.FormatInt(int64(math.Round(h)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// modelName is a model as the reason names it: "h100" → "H100".
func modelName(m string) string {
	if m == "" {
		return "accelerator"
	}
	return strings.ToUpper(m)
}
