package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// outCSV is -o csv, which gf usage writes (one row per project, site and
// model), for spreadsheets and accounting.
const outCSV = "csv"

func usageCommand(env *cliEnv) *cobra.Command {
	var q client.UsageQuery
	var jobs bool
	cmd := newCommand(env, "usage [PROJECT...]", "awards used and left; metered use, energy, carbon and cost (--by like sreport, --jobs like sacct; -o json|csv)", func(ctx context.Context, env *cliEnv, args []string) error {
		csvOut := env.output == outCSV
		if csvOut {
			env.output = outTable // checked here; the other commands have no CSV form
		}
		if q.By != "" || jobs {
			if len(args) > 1 {
				return usagef(env, "usage --by/--jobs: at most one PROJECT, got %d", len(args))
			}
			if len(args) == 1 {
				q.Project = args[0]
			}
			if jobs && q.By != "" {
				return usagef(env, "usage: --by and --jobs are two views; give one")
			}
			return withClient(env, func(c *client.Client) error { return meteredUsage(ctx, env, c, q, jobs, csvOut) })
		}
		if q.Period != "" || q.From != "" || q.To != "" {
			return usagef(env, "usage: --period, --from and --to go with --by or --jobs")
		}
		return withClient(env, func(c *client.Client) error {
			names := args
			if len(names) == 0 {
				ps, err := c.Projects(ctx, "")
				if err != nil {
					return err
				}
				for _, p := range ps {
					names = append(names, p.Name)
				}
			}
			out := []core.ProjectUsage{}
			for _, n := range names {
				u, err := c.ProjectUsage(ctx, n)
				if err != nil {
					return fmt.Errorf("project %s: %w", n, err)
				}
				out = append(out, *u)
			}
			if csvOut {
				return writeUsageCSV(env.stdout, out)
			}
			return emit(env, out, func(w io.Writer) error { return writeUsageTable(w, out) })
		})
	})
	cmd.Example = `  gf usage                  # every project you can see
  gf usage rocket -o csv    # one row per site and model
  gf usage --by org_kind --from 2026-01-01 --to 2027-01-01
  gf usage --by period --period day rocket
  gf usage --jobs -o csv    # one row per run of a job, like sacct`
	f := cmd.Flags()
	f.StringVar(&q.By, "by", "", "sum metered runs by project, org, kind (org_kind), site, model, mode or period")
	f.StringVar(&q.Period, "period", "", "with --by period: day or month (default month)")
	f.StringVar(&q.From, "from", "", "runs that ended at or after this date or RFC 3339 time")
	f.StringVar(&q.To, "to", "", "runs that ended before this date or RFC 3339 time")
	f.BoolVar(&jobs, "jobs", false, "one row per run of a job (its meter), like sacct")
	return cmd
}

// meteredUsage is gf usage --by or --jobs: the meters of runs that ended.
func meteredUsage(ctx context.Context, env *cliEnv, c *client.Client, q client.UsageQuery, jobs, csvOut bool) error {
	if jobs {
		ms, err := c.UsageJobs(ctx, q)
		if err != nil {
			return err
		}
		if csvOut {
			return writeMetersCSV(env.stdout, ms)
		}
		return emit(env, ms, func(w io.Writer) error { return writeMetersTable(w, ms) })
	}
	rep, err := c.UsageReport(ctx, q)
	if err != nil {
		return err
	}
	if csvOut {
		return writeReportCSV(env.stdout, rep)
	}
	return emit(env, rep, func(w io.Writer) error { return writeReportTable(w, rep) })
}

var reportHeader = []string{"jobs", "runs", "accelerator_hours", "norm_hours", "node_hours", "cpu_core_hours", "energy_kwh", "carbon_kg", "cost_eur", "public_eur", "private_eur"}

func reportFigures(r core.MeterRow) []string {
	return []string{strconv.Itoa(r.Jobs), strconv.Itoa(r.Meters), number(r.AccelHours), number(r.NormHours), number(r.NodeHours), number(r.CPUCoreHours),
		number(r.EnergyKWh), number(r.CarbonKg), euros(r.Cost), euros(r.Public), euros(r.Private)}
}

// euros writes an amount to the cent, 0 included (money leaves 0 blank).
func euros(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func writeReportTable(w io.Writer, rep *client.UsageReport) error {
	tw := newTable(w)
	row(tw, "BY "+strings.ToUpper(rep.By), "JOBS", "RUNS", "ACCEL-H", "NORM-H", "NODE-H", "CORE-H", "KWH", "KG-CO2E", "COST-EUR", "PUBLIC-EUR", "PRIVATE-EUR")
	for _, r := range append(rep.Rows, rep.Total) {
		row(tw, append([]string{orDash(r.Key)}, reportFigures(r)...)...)
	}
	return tw.Flush()
}

func writeReportCSV(w io.Writer, rep *client.UsageReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(append([]string{rep.By}, reportHeader...))
	for _, r := range append(rep.Rows, rep.Total) {
		_ = cw.Write(append([]string{r.Key}, reportFigures(r)...))
	}
	cw.Flush()
	return cw.Error()
}

func meterFigures(m core.Meter) []string {
	return []string{strconv.Itoa(m.Attempt), m.Project, m.Org, orDash(m.OrgKind), m.Site, orDash(m.Model), m.Mode, m.State,
		m.Start.UTC().Format(time.RFC3339), m.End.UTC().Format(time.RFC3339), number(m.Accelerators), number(m.AccelHours),
		number(m.EnergyKWh), number(m.CarbonKg), euros(m.Cost), euros(m.Public), euros(m.Private)}
}

func writeMetersTable(w io.Writer, ms []core.Meter) error {
	tw := newTable(w)
	row(tw, "JOB", "ATTEMPT", "PROJECT", "ORG", "KIND", "SITE", "MODEL", "MODE", "STATE", "START", "END", "ACCELS", "ACCEL-H", "KWH", "KG-CO2E", "COST-EUR", "PUBLIC-EUR", "PRIVATE-EUR")
	for _, m := range ms {
		row(tw, append([]string{m.JobID.String()}, meterFigures(m)...)...)
	}
	return tw.Flush()
}

func writeMetersCSV(w io.Writer, ms []core.Meter) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"job", "attempt", "project", "org", "org_kind", "site", "model", "mode", "state", "start", "end", "accelerators", "accelerator_hours",
		"energy_kwh", "carbon_kg", "cost_eur", "public_eur", "private_eur", "carbon_g_per_kwh", "carbon_source", "pue", "utilisation", "policy"})
	for _, m := range ms {
		_ = cw.Write(append(append([]string{m.JobID.String()}, meterFigures(m)...),
			number(m.CarbonFactor), m.CarbonSource, number(m.PUE), number(m.Utilisation), m.Policy))
	}
	cw.Flush()
	return cw.Error()
}

func writeUsageTable(w io.Writer, us []core.ProjectUsage) error {
	tw := newTable(w)
	row(tw, "PROJECT", "AWARD", "UNIT", "AWARDED", "USED", "REMAINING", "SITE", "MODEL", "JOBS", "ACCEL-H", "CHARGED-H", "HELD")
	for _, u := range us {
		award, unit, awarded, used, left, held := "-", "-", "-", "-", "-", orDash(u.Held)
		if u.Award != nil {
			award, unit = u.Award.ID, u.Unit
			awarded, used, left = number(u.Awarded), number(u.Used), number(u.Remaining)
		}
		if len(u.BySiteModel) == 0 {
			row(tw, u.Project, award, unit, awarded, used, left, "-", "-", "0", "0", "-", held)
		}
		for i, r := range u.BySiteModel {
			if i > 0 { // the project's figures once, on its first row
				award, unit, awarded, used, left, held = "", "", "", "", "", ""
			}
			charged := "-"
			if u.Award != nil {
				charged = number(r.ChargedHours)
			}
			row(tw, u.Project, award, unit, awarded, used, left, r.Site, orDash(r.Model), strconv.Itoa(r.Jobs), number(r.AcceleratorHours), charged, held)
		}
	}
	return tw.Flush()
}

func writeUsageCSV(w io.Writer, us []core.ProjectUsage) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"project", "award", "unit", "awarded_hours", "used_hours", "remaining_hours", "site", "model", "jobs", "accelerator_hours", "charged_hours"})
	for _, u := range us {
		award, unit := "", ""
		if u.Award != nil {
			award, unit = u.Award.ID, u.Unit
		}
		head := []string{u.Project, award, unit, number(u.Awarded), number(u.Used), number(u.Remaining)}
		if len(u.BySiteModel) == 0 {
			_ = cw.Write(append(head, "", "", "0", "0", "0"))
		}
		for _, r := range u.BySiteModel {
			_ = cw.Write(append(append([]string(nil), head...), r.Site, r.Model, strconv.Itoa(r.Jobs), number(r.AcceleratorHours), number(r.ChargedHours)))
		}
	}
	cw.Flush()
	return cw.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
