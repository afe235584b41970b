package meter

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Groupings are the ways a usage report may group meters.
var Groupings = []string{"project", "org", "org_kind", "site", "model", "mode", "period"}

// Periods are the lengths of a "period" grouping.
var Periods = []string{"day", "month"}

// CheckGrouping checks by and period, naming the field at fault; "kind"
// is taken for "org_kind" and an empty period is "month".
func CheckGrouping(by, period string) (string, string, error) {
	if by == "kind" {
		by = "org_kind"
	}
	if !slices.Contains(Groupings, by) {
		return "", "", fmt.Errorf("by: %q is not one of %v", by, Groupings)
	}
	if period == "" {
		period = "month"
	}
	if !slices.Contains(Periods, period) {
		return "", "", fmt.Errorf("period: %q is not one of %v", period, Periods)
	}
	return by, period, nil
}

// Key is the group of meter m under grouping by (see Groupings); a
// period is that of the run's end, in UTC ("2026-12" or "2026-12-07").
func Key(m core.Meter, by, period string) string {
	switch by {
	case "project":
		return m.Project
	case "org":
		return m.Org
	case "org_kind":
		return m.OrgKind
	case "site":
		return m.Site
	case "model":
		return m.Model
	case "mode":
		return m.Mode
	case "period":
		if period == "day" {
			return m.End.UTC().Format(time.DateOnly)
		}
		return m.End.UTC().Format("2006-01")
	}
	return ""
}

// Summarise sums meters by grouping by (and period), one row per group in
// key order. Each row counts the distinct jobs of its meters and the
// runs. Bad by or period is an error naming the field.
func Summarise(meters []core.Meter, by, period string) ([]core.MeterRow, error) {
	by, period, err := CheckGrouping(by, period)
	if err != nil {
		return nil, err
	}
	rows := map[string]*core.MeterRow{}
	jobs := map[string]map[core.JobID]bool{}
	for _, m := range meters {
		k := Key(m, by, period)
		r, ok := rows[k]
		if !ok {
			r = &core.MeterRow{Key: k}
			rows[k] = r
			jobs[k] = map[core.JobID]bool{}
		}
		Add(r, m)
		if !jobs[k][m.JobID] {
			jobs[k][m.JobID] = true
			r.Jobs++
		}
	}
	out := make([]core.MeterRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b core.MeterRow) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// Add adds meter m's figures to row r (not its job count, which Summarise
// keeps by distinct job).
func Add(r *core.MeterRow, m core.Meter) {
	r.Meters++
	r.AccelHours += m.AccelHours
	r.NormHours += m.NormHours
	r.NodeHours += m.NodeHours
	r.CPUCoreHours += m.CPUCoreHours
	r.EnergyKWh += m.EnergyKWh
	r.CarbonKg += m.CarbonKg
	r.Cost += m.Cost
	r.Public += m.Public
	r.Private += m.Private
}
