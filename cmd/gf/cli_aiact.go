package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/client"
)

// aiactCommand is gf ai-act: the AI Act compute ledger's models, their
// reports and the notifications they raised.
func aiactCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "ai-act", "the AI Act compute ledger: models' training compute, reports (Annex XI), notifications", nil)
	cmd.AddCommand(aiactModelsCommand(env), aiactReportCommand(env), aiactNotificationsCommand(env))
	return cmd
}

func aiactModelsCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "models", "list models with their training compute, used and projected, to two significant figures", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return usagef(env, "ai-act models takes no arguments")
		}
		return withClient(env, func(c *client.Client) error {
			ms, err := c.AIActModels(ctx)
			if err != nil {
				return err
			}
			if ms == nil {
				ms = []aiact.Model{}
			}
			return emit(env, ms, func(w io.Writer) error {
				tw := newTable(w)
				row(tw, "MODEL", "ORG", "PURPOSE", "BASE", "USED", "PROJECTED", "6PD", "ACCEL-H", "JOBS", "NEW-MODEL")
				for _, m := range ms {
					arch := "-"
					if m.Architecture != nil {
						arch = aiactFLOP(m.Architecture.FLOP)
					}
					newModel := "-"
					if m.NewModel {
						newModel = "yes"
					}
					row(tw, m.ID, m.Org, m.Purpose, orDash(m.BaseModel), aiactFLOP(m.Hardware.FLOP), aiactFLOP(m.Projected.FLOP), arch,
						number(m.AcceleratorHours), fmt.Sprint(len(m.Projected.Jobs)), newModel)
				}
				return tw.Flush()
			})
		})
	})
	cmd.Example = `  gf ai-act models
  gf ai-act models -o json`
	return cmd
}

func aiactReportCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "report MODEL", "a model's AI Act report: compute and its method, training time, energy, hardware, notifications (Markdown; -o json)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return usagef(env, "ai-act report takes one MODEL")
		}
		return withClient(env, func(c *client.Client) error {
			rep, err := c.AIActReport(ctx, args[0])
			if err != nil {
				return err
			}
			return emit(env, rep, func(w io.Writer) error {
				_, err := io.WriteString(w, rep.Markdown())
				return err
			})
		})
	})
	cmd.Example = `  gf ai-act report euro-70b > euro-70b.md
  gf ai-act report euro-70b -o json`
	return cmd
}

func aiactNotificationsCommand(env *cliEnv) *cobra.Command {
	return newCommand(env, "notifications", "thresholds crossed (1e23, 1e25 FLOP) and fine-tunes that became new models, dated when known", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return usagef(env, "ai-act notifications takes no arguments")
		}
		return withClient(env, func(c *client.Client) error {
			ns, err := c.AIActNotifications(ctx)
			if err != nil {
				return err
			}
			if ns == nil {
				ns = []aiact.Notification{}
			}
			return emit(env, ns, func(w io.Writer) error {
				tw := newTable(w)
				row(tw, "KNOWN", "MODEL", "ORG", "KIND", "FLOP", "METHOD", "PROJECTED", "JOB")
				for _, n := range ns {
					row(tw, n.At.Local().Format(time.DateTime), n.Model, n.Org, string(n.Kind), aiactFLOP(n.FLOP), string(n.Method),
						fmt.Sprint(n.Projected), fmt.Sprint(int64(n.Job)))
				}
				return tw.Flush()
			})
		})
	})
}

// aiactFLOP writes compute to two significant figures, "6.6e+23".
func aiactFLOP(f float64) string {
	return strings.TrimSuffix(aiact.Format(f), " FLOP")
}
