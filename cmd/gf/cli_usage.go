package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// outCSV is -o csv, which gf usage writes (one row per project, site and
// model), for spreadsheets and accounting.
const outCSV = "csv"

func usageCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "usage [PROJECT...]", "what each project was awarded, has used and has left, by site and model (-o json|csv)", func(ctx context.Context, env *cliEnv, args []string) error {
		csvOut := env.output == outCSV
		if csvOut {
			env.output = outTable // checked here; the other commands have no CSV form
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
  gf usage rocket -o csv    # one row per site and model`
	return cmd
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
