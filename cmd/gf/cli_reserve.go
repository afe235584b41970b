package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// Advance reservations (issue 17), as Slurm's scontrol create/show/delete
// reservation: gf reserve books a window; gf reservations lists them and
// deletes one. A project's jobs run in it with --reservation ID.

func reserveCommand(env *cliEnv) *cobra.Command {
	var r client.NewReservation
	var projects []string
	cmd := newCommand(env, "reserve --site S --accelerators N --start T --duration D", "book accelerators of a site for a window (operators of the site, allocators); jobs run in it with --reservation ID",
		func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 0 {
				return errUsage
			}
			if err := checkOutput(env); err != nil {
				return err
			}
			for _, f := range []struct{ name, v string }{{"site", r.Site}, {"start", r.Start}, {"duration", r.Duration}} {
				if f.v == "" {
					return usagef(env, "--%s is required", f.name)
				}
			}
			if r.Accelerators <= 0 {
				return usagef(env, "--accelerators: want a count > 0")
			}
			r.Projects = projects
			return withClient(env, func(c *client.Client) error {
				out, err := c.Reserve(ctx, r)
				if err != nil {
					return err
				}
				return emit(env, out, func(w io.Writer) error { return writeReservations(w, []core.Reservation{*out}, time.Now()) })
			})
		})
	fs := cmd.Flags()
	fs.StringVar(&r.Site, "site", "", "the site")
	fs.IntVarP(&r.Accelerators, "accelerators", "a", 0, "how many accelerators (whole nodes are set aside)")
	fs.StringVar(&r.Start, "start", "", "when the window opens: RFC 3339 or sbatch --begin's forms (now, now+1hour, 2026-12-09T08:00, tomorrow)")
	fs.StringVar(&r.Duration, "duration", "", "how long: sbatch --time's forms (minutes, H:M:S, D-H, D-H:M:S)")
	fs.StringVar(&r.Model, "model", "", "the accelerator model (default: any of the site's)")
	fs.StringSliceVar(&projects, "project", nil, "the projects whose jobs may run in it (repeat or comma-separate)")
	fs.StringVar(&r.Name, "name", "", "the reservation's id (default: made from the site and the start)")
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	_ = cmd.RegisterFlagCompletionFunc("site", completeSites(env, 0))
	return cmd
}

func reservationsCommand(env *cliEnv) *cobra.Command {
	var site string
	cmd := newCommand(env, "reservations [ID]", "list the reservations you may see (state planned, draining, active, ended), or show one", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 1 {
			return errUsage
		}
		if err := checkOutput(env); err != nil {
			return err
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				r, err := c.Reservation(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, r, func(w io.Writer) error { return writeReservationDetail(w, r) })
			}
			rs, err := c.Reservations(ctx, site)
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []core.Reservation{}
			}
			return emit(env, rs, func(w io.Writer) error { return writeReservations(w, rs, time.Now()) })
		})
	})
	cmd.Flags().StringVar(&site, "site", "", "only this site's")
	del := newCommand(env, "delete ID", "delete a reservation: its nodes return to ordinary use (operators of its site, allocators)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			r, err := c.DeleteReservation(ctx, args[0])
			if err != nil {
				return err
			}
			return emit(env, r, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "deleted reservation %s\n", r.ID)
				return err
			})
		})
	})
	cmd.AddCommand(del)
	return cmd
}

// writeReservations is gf reservations' table, as scontrol show
// reservations in one line each.
func writeReservations(w io.Writer, rs []core.Reservation, now time.Time) error {
	tw := newTable(w)
	row(tw, "ID", "SITE", "MODEL", "ACCELERATORS", "START", "END", "PROJECTS", "STATE")
	for _, r := range rs {
		model := r.Model
		if model == "" {
			model = "any"
		}
		projects := strings.Join(r.Projects, ",")
		if projects == "" {
			projects = "any"
		}
		row(tw, r.ID, r.Site, model, fmt.Sprint(r.Accelerators), stampRel(&r.Start, now), stampRel(&r.End, now), projects, r.State)
	}
	return tw.Flush()
}

// writeReservationDetail is one reservation, key by key, with the nodes
// it holds or why it holds none.
func writeReservationDetail(w io.Writer, r *core.Reservation) error {
	tw, kv := detailTable(w)
	kv("Reservation", r.ID)
	kv("Site", r.Site)
	kv("Model", r.Model)
	kv("Accelerators", fmt.Sprint(r.Accelerators))
	kv("Start", stamp(&r.Start))
	kv("End", stamp(&r.End))
	kv("Duration", slurmDuration(r.End.Sub(r.Start)))
	kv("Projects", strings.Join(r.Projects, ","))
	kv("State", r.State)
	kv("Nodes", strings.Join(r.Nodes, ","))
	kv("Problem", r.Problem)
	kv("Created by", r.CreatedBy)
	return tw.Flush()
}

// writeSiteReservations lists, under gf sites SITE, the site's
// reservations the caller may see.
func writeSiteReservations(ctx context.Context, c *client.Client, w io.Writer, site string) error {
	rs, err := c.Reservations(ctx, site)
	if err != nil || len(rs) == 0 {
		return err
	}
	if _, err := fmt.Fprintln(w, "\nReservations:"); err != nil {
		return err
	}
	return writeReservations(w, rs, time.Now())
}
