package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
)

// controllersCommand lists the gf serve instances sharing the store (issue
// 19): which one leads, and when each was last seen.
func controllersCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "controllers", "list the controllers (gf serve) sharing the store and which one leads (operators, admins)",
		func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 0 {
				return errUsage
			}
			if err := checkOutput(env); err != nil {
				return err
			}
			return withClient(env, func(c *client.Client) error {
				cs, err := c.Controllers(ctx)
				if err != nil {
					return err
				}
				return emit(env, cs, func(w io.Writer) error { return writeControllers(w, cs, time.Now()) })
			})
		})
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

func writeControllers(w io.Writer, cs []client.Controller, now time.Time) error {
	tw := newTable(w)
	row(tw, "ID", "ADDRESS", "LEADER", "LAST SEEN", "STARTED")
	for _, c := range cs {
		leader := "no"
		if c.Leader {
			leader = "yes"
		}
		row(tw, c.ID, c.Address, leader, stampRel(&c.LastSeen, now), stampRel(&c.StartedAt, now))
	}
	return tw.Flush()
}
