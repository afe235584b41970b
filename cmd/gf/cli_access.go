package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The access process (issue 14): gf calls, gf call, gf propose, gf
// proposals, gf review, gf award, gf awards, gf members.

// parseHours reads "h100=1000,a100=50" into hours by model.
func parseHours(flag, s string) (map[string]float64, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, part := range strings.Split(s, ",") {
		model, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		h, err := strconv.ParseFloat(v, 64)
		if !ok || model == "" || err != nil {
			return nil, fmt.Errorf("--%s %q: want MODEL=HOURS[,MODEL=HOURS], e.g. h100=1000,a100=50", flag, part)
		}
		out[model] = h
	}
	return out, nil
}

// parseWhen reads a date (2026-05-01) or an RFC 3339 time; "" is zero.
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a date (2026-05-01) or an RFC 3339 time", flag, s)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func hoursText(h map[string]float64) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, number(h[k]))
	}
	return strings.Join(parts, ",")
}

func whenText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateOnly)
}

// ---- calls

func callsCommand(env *cliEnv) *cobra.Command {
	var state string
	cmd := newCommand(env, "calls [CALL]", "list the calls for proposals, or show one", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				call, err := c.Call(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, call, func(w io.Writer) error { return writeCalls(w, []core.Call{*call}) })
			}
			cs, err := c.Calls(ctx, state)
			if err != nil {
				return err
			}
			if cs == nil {
				cs = []core.Call{}
			}
			return emit(env, cs, func(w io.Writer) error { return writeCalls(w, cs) })
		})
	})
	cmd.Flags().StringVar(&state, "state", "", "only calls in this state: draft, open or closed")
	_ = cmd.RegisterFlagCompletionFunc("state", fixed(core.CallDraft, core.CallOpen, core.CallClosed))
	return cmd
}

func writeCalls(w io.Writer, cs []core.Call) error {
	tw := newTable(w)
	row(tw, "ID", "MODE", "STATE", "OPENS", "CLOSES", "HOURS", "MODELS", "TITLE")
	for _, c := range cs {
		row(tw, c.ID, c.Mode, c.State, whenText(c.Opens), whenText(c.Closes), number(c.TotalHours), strings.Join(c.Models, ","), c.Title)
	}
	return tw.Flush()
}

func callCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "call create|open|close|ranking", "manage calls for proposals (allocators): create, open, close, rank the proposals", func(ctx context.Context, env *cliEnv, args []string) error {
		return errUsage
	})
	var nc client.NewCall
	var opens, closes, kinds, countries, invited, sites, models string
	var open bool
	create := newCommand(env, "create --title T --mode M --models M[,M] --total-hours N", "create a call (a draft unless --open)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 0 {
			return errUsage
		}
		var err error
		if nc.Opens, err = parseWhen("opens", opens); err != nil {
			return usagef(env, "%v", err)
		}
		if nc.Closes, err = parseWhen("closes", closes); err != nil {
			return usagef(env, "%v", err)
		}
		nc.Kinds, nc.Countries, nc.Invited, nc.Sites, nc.Models = splitList(kinds), splitList(countries), splitList(invited), splitList(sites), splitList(models)
		if open {
			nc.State = core.CallOpen
		}
		return withClient(env, func(c *client.Client) error {
			call, err := c.CreateCall(ctx, nc)
			if err != nil {
				return err
			}
			return emit(env, call, func(w io.Writer) error { return writeCalls(w, []core.Call{*call}) })
		})
	})
	fs := create.Flags()
	fs.StringVar(&nc.ID, "id", "", "the call's id (default: the next EHPC-AIF-YYYYMMNN of its mode and year)")
	fs.StringVar(&nc.Title, "title", "", "the call's title")
	fs.StringVar(&nc.Mode, "mode", "", "access mode: "+strings.Join(access.ModeNames, ", "))
	fs.Float64Var(&nc.TotalHours, "total-hours", 0, "accelerator-hours the call may award in all")
	fs.Float64Var(&nc.MaxHours, "max-hours", 0, "the most one proposal may ask (default: the mode's bound)")
	fs.StringVar(&models, "models", "", "accelerator models offered, comma-separated")
	fs.StringVar(&sites, "sites", "", "sites offered, comma-separated (default: any offering the models)")
	fs.StringVar(&kinds, "kinds", "", "organisation kinds admitted, comma-separated (default: all)")
	fs.StringVar(&countries, "countries", "", "countries admitted (default: EU member states and associated countries)")
	fs.StringVar(&invited, "invited", "", "moonshot: the invited organisations, comma-separated")
	fs.StringVar(&opens, "opens", "", "when submissions open (date or RFC 3339; default now)")
	fs.StringVar(&closes, "closes", "", "the cut-off (date or RFC 3339; default none: continuous)")
	fs.BoolVar(&open, "open", false, "open the call at once")
	_ = create.RegisterFlagCompletionFunc("mode", fixed(access.ModeNames...))
	cmd.AddCommand(create)
	for _, verb := range []string{"open", "close"} {
		cmd.AddCommand(newCommand(env, verb+" CALL", verb+" a call to submissions", func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 1 {
				return errUsage
			}
			return withClient(env, func(c *client.Client) error {
				call, err := c.CallAction(ctx, args[0], verb)
				if err != nil {
					return err
				}
				return emit(env, call, func(w io.Writer) error { return writeCalls(w, []core.Call{*call}) })
			})
		}))
	}
	cmd.AddCommand(newCommand(env, "ranking CALL", "rank a call's proposals by their reviews", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			rs, err := c.Ranking(ctx, args[0])
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []access.Ranked{}
			}
			return emit(env, rs, func(w io.Writer) error {
				tw := newTable(w)
				row(tw, "RANK", "PROPOSAL", "PROJECT", "STATE", "HOURS", "TECHNICAL", "SCIENTIFIC", "REVIEWS", "FUNDABLE", "NOTE")
				for _, r := range rs {
					rank := "-"
					if r.Rank > 0 {
						rank = strconv.Itoa(r.Rank)
					}
					row(tw, rank, r.Proposal, r.Project, r.State, number(r.Hours), number(r.Technical), number(r.Scientific), strconv.Itoa(r.Reviews), strconv.FormatBool(r.Fundable), r.Note)
				}
				return tw.Flush()
			})
		})
	}))
	return cmd
}

// ---- proposals

func proposeCommand(env *cliEnv) *cobra.Command {
	var np client.NewProposal
	var hours, start, end, residency string
	var draft bool
	cmd := newCommand(env, "propose --call C --project P --title T --hours MODEL=N[,...] --start D --end D", "write a proposal to a call for your project (its PI); submitted unless --draft", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 0 {
			return errUsage
		}
		var err error
		if np.Hours, err = parseHours("hours", hours); err != nil {
			return usagef(env, "%v", err)
		}
		if np.Start, err = parseWhen("start", start); err != nil {
			return usagef(env, "%v", err)
		}
		if np.End, err = parseWhen("end", end); err != nil {
			return usagef(env, "%v", err)
		}
		np.Residency, np.Submit = splitList(residency), !draft
		return withClient(env, func(c *client.Client) error {
			p, err := c.CreateProposal(ctx, np)
			if err != nil {
				return err
			}
			return emit(env, p, func(w io.Writer) error { return writeProposals(w, []core.Proposal{*p}) })
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&np.Call, "call", "", "the call's id")
	fs.StringVar(&np.Project, "project", "", "your project")
	fs.StringVar(&np.Title, "title", "", "the proposal's title")
	fs.StringVar(&np.Abstract, "abstract", "", "what the compute is for")
	fs.StringVar(&hours, "hours", "", "accelerator-hours asked per model: h100=1000,a100=50")
	fs.StringVar(&start, "start", "", "when the compute is wanted from (date or RFC 3339)")
	fs.StringVar(&end, "end", "", "until when")
	fs.StringVar(&residency, "residency", "", "countries the data must stay in, comma-separated")
	fs.BoolVar(&draft, "draft", false, "keep it a draft (gf propose submit ID later)")
	_ = cmd.RegisterFlagCompletionFunc("project", completeProjects(env))
	for _, verb := range []string{"submit", "withdraw"} {
		cmd.AddCommand(newCommand(env, verb+" PROPOSAL", verb+" a proposal (its PI)", func(ctx context.Context, env *cliEnv, args []string) error {
			if len(args) != 1 {
				return errUsage
			}
			return withClient(env, func(c *client.Client) error {
				p, err := c.ProposalAction(ctx, args[0], verb, "")
				if err != nil {
					return err
				}
				return emit(env, p, func(w io.Writer) error { return writeProposals(w, []core.Proposal{*p}) })
			})
		}))
	}
	return cmd
}

func writeProposals(w io.Writer, ps []core.Proposal) error {
	tw := newTable(w)
	row(tw, "ID", "PROJECT", "PI", "STATE", "HOURS", "START", "END", "TITLE")
	for _, p := range ps {
		row(tw, p.ID, p.Project, p.PI, p.State, hoursText(p.Hours), whenText(p.Start), whenText(p.End), p.Title)
	}
	return tw.Flush()
}

func proposalsCommand(env *cliEnv) *cobra.Command {
	var f client.ProposalFilter
	cmd := newCommand(env, "proposals [PROPOSAL]", "list the proposals you may see, or show one", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				p, err := c.Proposal(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, p, func(w io.Writer) error { return writeProposals(w, []core.Proposal{*p}) })
			}
			ps, err := c.Proposals(ctx, f)
			if err != nil {
				return err
			}
			if ps == nil {
				ps = []core.Proposal{}
			}
			return emit(env, ps, func(w io.Writer) error { return writeProposals(w, ps) })
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&f.Call, "call", "", "only this call's")
	fs.StringVar(&f.Project, "project", "", "only this project's")
	fs.StringVar(&f.State, "state", "", "only in this state: "+strings.Join(access.ProposalStates, ", "))
	_ = cmd.RegisterFlagCompletionFunc("state", fixed(access.ProposalStates...))
	_ = cmd.RegisterFlagCompletionFunc("project", completeProjects(env))
	return cmd
}

// ---- reviews

func writeReviews(w io.Writer, rs []core.Review) error {
	tw := newTable(w)
	row(tw, "PROPOSAL", "REVIEWER", "TECHNICAL", "SCIENTIFIC", "CONFLICT", "SUBMITTED", "COMMENTS")
	for _, r := range rs {
		conflict := ""
		if r.Conflict {
			conflict = r.ConflictReason
		}
		row(tw, r.Proposal, r.Reviewer, strconv.Itoa(r.Technical), strconv.Itoa(r.Scientific), conflict, stamp(r.SubmittedAt), r.Comments)
	}
	return tw.Flush()
}

func reviewCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "review assign|score|conflict|list", "peer review: assign reviewers (allocators), score a proposal, declare a conflict, list reviews", func(ctx context.Context, env *cliEnv, args []string) error {
		return errUsage
	})
	one := func(f func(ctx context.Context, c *client.Client) (*core.Review, error)) func(ctx context.Context, env *cliEnv) error {
		return func(ctx context.Context, env *cliEnv) error {
			return withClient(env, func(c *client.Client) error {
				r, err := f(ctx, c)
				if err != nil {
					return err
				}
				return emit(env, r, func(w io.Writer) error { return writeReviews(w, []core.Review{*r}) })
			})
		}
	}
	cmd.AddCommand(newCommand(env, "assign PROPOSAL REVIEWER", "assign a reviewer to a proposal (allocators); refused for the PI's organisation and declared conflicts", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 2 {
			return errUsage
		}
		return one(func(ctx context.Context, c *client.Client) (*core.Review, error) {
			return c.AssignReviewer(ctx, args[0], args[1])
		})(ctx, env)
	}))
	var scores client.ReviewScores
	score := newCommand(env, "score PROPOSAL --technical N [--scientific N] [--comments TEXT]", "score a proposal assigned to you (1 to 5)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return one(func(ctx context.Context, c *client.Client) (*core.Review, error) {
			return c.Review(ctx, args[0], scores)
		})(ctx, env)
	})
	score.Flags().IntVar(&scores.Technical, "technical", 0, "technical score, 1 to 5")
	score.Flags().IntVar(&scores.Scientific, "scientific", 0, "scientific score, 1 to 5 (peer-reviewed modes)")
	score.Flags().StringVar(&scores.Comments, "comments", "", "comments for the allocator and, after the decision, the project")
	cmd.AddCommand(score)
	var org, project, reason string
	conflict := newCommand(env, "conflict [PROPOSAL] --reason R [--org O | --project P]", "declare a conflict: with a proposal assigned to you, or ahead with an organisation or project", func(ctx context.Context, env *cliEnv, args []string) error {
		switch {
		case len(args) == 1 && org == "" && project == "":
			return one(func(ctx context.Context, c *client.Client) (*core.Review, error) {
				return c.Review(ctx, args[0], client.ReviewScores{Conflict: true, ConflictReason: reason})
			})(ctx, env)
		case len(args) == 0:
			return withClient(env, func(c *client.Client) error {
				cf, err := c.DeclareConflict(ctx, org, project, reason)
				if err != nil {
					return err
				}
				return emit(env, cf, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Declared a conflict with %s%s: you will not be assigned its proposals.\n", cf.Org, cf.Project)
					return err
				})
			})
		}
		return errUsage
	})
	conflict.Flags().StringVar(&reason, "reason", "", "what the conflict is")
	conflict.Flags().StringVar(&org, "org", "", "an organisation you have a conflict with")
	conflict.Flags().StringVar(&project, "project", "", "a project you have a conflict with")
	cmd.AddCommand(conflict)
	cmd.AddCommand(newCommand(env, "list PROPOSAL", "list a proposal's reviews you may see", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			rs, err := c.Reviews(ctx, args[0])
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []core.Review{}
			}
			return emit(env, rs, func(w io.Writer) error { return writeReviews(w, rs) })
		})
	}))
	return cmd
}

// ---- awards

func writeAwards(w io.Writer, as []core.Award) error {
	tw := newTable(w)
	row(tw, "ID", "PROJECT", "MODE", "HOURS", "FROM", "TO", "SITES")
	for _, a := range as {
		sites := strings.Join(a.Sites, ",")
		if sites == "" {
			sites = "any"
		}
		row(tw, a.ID, a.Project, a.Mode, hoursText(a.Hours), whenText(a.ValidFrom), whenText(a.ValidTo), sites)
	}
	return tw.Flush()
}

// awardFlags are gf award's and gf award extend's.
type awardFlags struct{ hours, from, to, sites string }

func (f awardFlags) award(env *cliEnv) (client.NewAward, error) {
	var a client.NewAward
	var err error
	if a.Hours, err = parseHours("hours", f.hours); err != nil {
		return a, usagef(env, "%v", err)
	}
	if a.ValidFrom, err = parseWhen("from", f.from); err != nil {
		return a, usagef(env, "%v", err)
	}
	if a.ValidTo, err = parseWhen("to", f.to); err != nil {
		return a, usagef(env, "%v", err)
	}
	a.Sites = splitList(f.sites)
	return a, nil
}

func awardCommand(env *cliEnv) *cobra.Command {
	var f awardFlags
	var overdraft float64
	emitAward := func(env *cliEnv, a *core.Award) error {
		return emit(env, a, func(w io.Writer) error { return writeAwards(w, []core.Award{*a}) })
	}
	cmd := newCommand(env, "award PROPOSAL --hours MODEL=N[,...]", "award a proposal hours within its call's total (allocators); reject or extend", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		a, err := f.award(env)
		if err != nil {
			return err
		}
		a.Overdraft = overdraft
		return withClient(env, func(c *client.Client) error {
			out, err := c.Award(ctx, args[0], a)
			if err != nil {
				return err
			}
			return emitAward(env, out)
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&f.hours, "hours", "", "accelerator-hours per model: h100=1000,a100=50")
	fs.StringVar(&f.from, "from", "", "valid from (default: the proposal's start)")
	fs.StringVar(&f.to, "to", "", "valid to (default: the proposal's end)")
	fs.StringVar(&f.sites, "sites", "", "sites it may be spent at (default: the call's)")
	fs.Float64Var(&overdraft, "overdraft", 0, "share that may be spent beyond the award (0.1: 110%)")
	var reason string
	reject := newCommand(env, "reject PROPOSAL --reason R", "reject a proposal", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			p, err := c.ProposalAction(ctx, args[0], "reject", reason)
			if err != nil {
				return err
			}
			return emit(env, p, func(w io.Writer) error { return writeProposals(w, []core.Proposal{*p}) })
		})
	})
	reject.Flags().StringVar(&reason, "reason", "", "why, for the applicant")
	cmd.AddCommand(reject)
	var ef awardFlags
	extend := newCommand(env, "extend AWARD [--to DATE] [--hours MODEL=N[,...]]", "extend an award: a later end, more hours (its jobs held for it run again)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		a, err := ef.award(env)
		if err != nil {
			return err
		}
		return withClient(env, func(c *client.Client) error {
			out, err := c.ExtendAward(ctx, args[0], a)
			if err != nil {
				return err
			}
			return emitAward(env, out)
		})
	})
	extend.Flags().StringVar(&ef.to, "to", "", "the new end")
	extend.Flags().StringVar(&ef.hours, "hours", "", "the new hours per model: h100=70000")
	cmd.AddCommand(extend)
	return cmd
}

func awardsCommand(env *cliEnv) *cobra.Command {
	var project string
	cmd := newCommand(env, "awards [AWARD]", "list the awards you may see, or show one", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				a, err := c.GetAward(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, a, func(w io.Writer) error { return writeAwards(w, []core.Award{*a}) })
			}
			as, err := c.Awards(ctx, project)
			if err != nil {
				return err
			}
			if as == nil {
				as = []core.Award{}
			}
			return emit(env, as, func(w io.Writer) error { return writeAwards(w, as) })
		})
	})
	cmd.Flags().StringVar(&project, "project", "", "only this project's")
	_ = cmd.RegisterFlagCompletionFunc("project", completeProjects(env))
	return cmd
}

// ---- members

func writeMembers(w io.Writer, ms []core.Membership) error {
	tw := newTable(w)
	row(tw, "PROJECT", "USER", "ROLE", "ADDED", "BY")
	for _, m := range ms {
		row(tw, m.Project, m.User, m.Role, date(m.AddedAt), m.AddedBy)
	}
	return tw.Flush()
}

func membersCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "members PROJECT | add PROJECT USER [--role pi|member] | remove PROJECT USER", "list a project's PIs and members, add one, remove one", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 1 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			ms, err := c.Members(ctx, args[0])
			if err != nil {
				return err
			}
			if ms == nil {
				ms = []core.Membership{}
			}
			return emit(env, ms, func(w io.Writer) error { return writeMembers(w, ms) })
		})
	})
	var role string
	add := newCommand(env, "add PROJECT USER", "add a member (the PI) or a PI (administrators); again: change the role", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 2 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			m, err := c.AddMember(ctx, args[0], args[1], role)
			if err != nil {
				return err
			}
			return emit(env, m, func(w io.Writer) error { return writeMembers(w, []core.Membership{*m}) })
		})
	})
	add.Flags().StringVar(&role, "role", core.ProjectMember, "pi or member")
	_ = add.RegisterFlagCompletionFunc("role", fixed(core.ProjectPI, core.ProjectMember))
	cmd.AddCommand(add)
	cmd.AddCommand(newCommand(env, "remove PROJECT USER", "take a user out of a project", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) != 2 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			m, err := c.RemoveMember(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			return emit(env, m, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Removed %s (%s) from project %s.\n", m.User, m.Role, m.Project)
				return err
			})
		})
	}))
	return cmd
}
