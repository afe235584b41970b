package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
)

// siteActions are the operators' site lifecycle verbs, in help order.
var siteActions = []struct{ verb, summary string }{
	{"drain", "stop placing new jobs at a site; its running jobs finish"},
	{"resume", "place jobs at a drained or down site again"},
	{"down", "mark a site down: its jobs are requeued elsewhere"},
}

// siteCommand is the operators' site lifecycle: gf site drain|resume|down SITE.
func siteCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "site drain|resume|down SITE", "operate a site: drain (no new jobs), resume, or mark it down (its jobs are requeued elsewhere)",
		func(ctx context.Context, env *cliEnv, args []string) error {
			// A verb cobra did not match, or none.
			return errUsage
		})
	for _, a := range siteActions {
		verb := a.verb
		sub := newCommand(env, verb+" SITE", a.summary, func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 1 {
				return errUsage
			}
			return withClient(env, func(c *client.Client) error {
				s, err := c.SiteAction(ctx, args[0], verb)
				if err != nil {
					return err
				}
				return emit(env, s, func(w io.Writer) error { return writeSiteDetail(w, s) })
			})
		})
		sub.ValidArgsFunction = completeSites(env, 1)
		cmd.AddCommand(sub)
	}
	return cmd
}
