package main

import (
	"context"
	"io"

	"github.com/gigafactory/gigafactory/internal/client"
)

// siteCommand is the operators' site lifecycle: gf site drain|resume|down SITE.
func siteCommand() *command {
	return &command{
		name:    "site",
		summary: "operate a site: drain (no new jobs), resume, or mark it down (its jobs are requeued elsewhere)",
		usage:   "drain|resume|down SITE",
		run: func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 2 {
				return errUsage
			}
			switch args[0] {
			case "drain", "resume", "down":
			default:
				return errUsage
			}
			return withClient(env, func(c *client.Client) error {
				s, err := c.SiteAction(ctx, args[1], args[0])
				if err != nil {
					return err
				}
				return emit(env, s, func(w io.Writer) error { return writeSiteDetail(w, s) })
			})
		},
	}
}
