package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// builtinNetworks are the networks gf knows without a server, by the
// name gf serve --network and gf sites --network take.
var builtinNetworks = map[string]func() *config.Config{"eu": config.EU}

// networkSites returns a built-in network's sites as a fresh gf serve
// --network NAME lists them: totals filled in, every site active.
func networkSites(name string) ([]core.Site, error) {
	build, ok := builtinNetworks[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("--network %q: the built-in networks are %s", name, strings.Join(sortedKeys(builtinNetworks), ", "))
	}
	sites := build().Sites
	for i := range sites {
		sites[i].Accelerators = sites[i].Totals()
		if sites[i].State == "" {
			sites[i].State = core.SiteActive
		}
	}
	return sites, nil
}

func sitesCommand(env *cliEnv) *cobra.Command {
	var network string
	cmd := newCommand(env, "sites [SITE]", "list the federation's sites, or show one with its pools", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 1 {
			return errUsage
		}
		if network != "" {
			return offlineSites(env, network, args)
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				s, err := c.Site(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, s, func(w io.Writer) error {
					if err := writeSiteDetail(w, s); err != nil {
						return err
					}
					return writeSiteReservations(ctx, c, w, s.ID)
				})
			}
			sites, err := c.Sites(ctx)
			if err != nil {
				return err
			}
			if sites == nil {
				sites = []core.Site{}
			}
			return emit(env, sites, func(w io.Writer) error { return writeSitesTable(w, sites) })
		})
	})
	cmd.Flags().StringVar(&network, "network", "", "list a built-in network without a server: eu (the EU reference network)")
	_ = cmd.RegisterFlagCompletionFunc("network", fixed(sortedKeys(builtinNetworks)...))
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if network == "" {
			return completeSites(env, 1)(c, args, toComplete)
		}
		sites, err := networkSites(network)
		if err != nil || len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range sites {
			out = append(out, cobra.CompletionWithDesc(s.ID, s.Name))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	cmd.Example = `  gf sites
  gf sites --network eu           # the built-in EU network, no server needed`
	return cmd
}

// offlineSites is gf sites --network NAME [SITE]: a built-in network's
// sites, read from the binary, no server asked.
func offlineSites(env *cliEnv, network string, args []string) error {
	if err := checkOutput(env); err != nil {
		return err
	}
	sites, err := networkSites(network)
	if err != nil {
		return usagef(env, "%v", err)
	}
	if len(args) == 1 {
		for i := range sites {
			if sites[i].ID == args[0] {
				s := &sites[i]
				return emit(env, s, func(w io.Writer) error { return writeSiteDetail(w, s) })
			}
		}
		return fmt.Errorf("no site %q in the %s network (gf sites --network %s lists them)", args[0], network, network)
	}
	return emit(env, sites, func(w io.Writer) error { return writeSitesTable(w, sites) })
}

// siteModels summarises a site's accelerators by model: "8 h100, 4 a100".
func siteModels(s core.Site) string {
	count := map[string]int{}
	var order []string
	for _, p := range s.Pools {
		m := p.Model
		if m == "" {
			m = "?"
		}
		if _, ok := count[m]; !ok {
			order = append(order, m)
		}
		count[m] += p.Nodes * p.AccelPerNode
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = fmt.Sprintf("%d %s", count[m], m)
	}
	return strings.Join(parts, ", ")
}

// siteAccels is the site's total, computed from pools when the server left
// it out.
func siteAccels(s core.Site) int {
	if s.Accelerators > 0 {
		return s.Accelerators
	}
	return s.Totals()
}

func writeSitesTable(w io.Writer, sites []core.Site) error {
	tw := newTable(w)
	row(tw, "ID", "NAME", "KIND", "COUNTRY", "STATE", "ACCEL", "MODELS", "EUR/ACCEL-H", "DRIVER")
	for _, s := range sites {
		accel := fmt.Sprint(siteAccels(s))
		if s.AssumedSize {
			accel += "*"
		}
		row(tw, s.ID, s.Name, s.Kind, s.Country, s.State, accel, siteModels(s), money(s.PricePerAccelHour), s.Driver)
	}
	return tw.Flush()
}

// money formats a price in euros with two decimals, or "" for none.
func money(f float64) string {
	if f == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", f)
}

func writeSiteDetail(w io.Writer, s *core.Site) error {
	tw, kv := detailTable(w)
	kv("Site", s.ID)
	kv("Name", s.Name)
	kv("Kind", s.Kind)
	kv("Country", s.Country)
	kv("State", s.State)
	kv("Driver", s.Driver)
	var opts []string
	for _, k := range sortedKeys(s.DriverOptions) {
		opts = append(opts, k+"="+s.DriverOptions[k])
	}
	kv("Driver options", strings.Join(opts, " "))
	acc := fmt.Sprint(siteAccels(*s))
	if s.AssumedSize {
		acc += " (assumed)"
	}
	kv("Accelerators", acc)
	if p := money(s.PricePerAccelHour); p != "" {
		kv("Price", p+" EUR per accelerator-hour")
	}
	if s.PUE > 0 {
		kv("PUE", number(s.PUE))
	}
	if s.CarbonGPerKWh > 0 {
		kv("Carbon", number(s.CarbonGPerKWh)+" gCO2/kWh")
	}
	if s.DefaultWalltime > 0 {
		kv("Default walltime", slurmDuration(time.Duration(s.DefaultWalltime)))
	}
	if s.MaxWalltime > 0 {
		kv("Max walltime", slurmDuration(time.Duration(s.MaxWalltime)))
	}
	kv("Source", s.Source)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Pools) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nPools:")
	tw = newTable(w)
	row(tw, "  POOL", "MODEL", "NODES", "ACCEL/NODE", "NODES/BLOCK", "BLOCKS/POD", "CPUS/NODE", "MEM/NODE", "POWER/ACCEL")
	for _, p := range s.Pools {
		row(tw, "  "+p.Name, p.Model, fmt.Sprint(p.Nodes), fmt.Sprint(p.AccelPerNode), intOrEmpty(p.NodesPerBlock),
			intOrEmpty(p.BlocksPerPod), intOrEmpty(p.CPUsPerNode), mebibytes(p.MemMiBPerNode), wattsOrEmpty(p.PowerW))
	}
	return tw.Flush()
}

func intOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func wattsOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d W", n)
}

// mebibytes formats an amount of MiB in the largest binary unit that keeps
// it readable: 512 MiB, 1.5 GiB, 2 TiB.
func mebibytes(mib int) string {
	switch {
	case mib == 0:
		return ""
	case mib >= 1<<20:
		return number(float64(mib)/(1<<20)) + " TiB"
	case mib >= 1<<10:
		return number(float64(mib)/(1<<10)) + " GiB"
	}
	return fmt.Sprintf("%d MiB", mib)
}

// date formats a creation time as a day, or "" when unknown.
func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02")
}

// orgsOpts are gf orgs' flags.
type orgsOpts struct{ kind, country string }

func orgsCommand(env *cliEnv) *cobra.Command {
	o := &orgsOpts{}
	cmd := newCommand(env, "orgs [NAME | create NAME --kind KIND --country CC]", "list organisations, show one, or create one (administrators)", func(ctx context.Context, env *cliEnv, args []string) error {
		switch {
		case len(args) == 2 && args[0] == "create":
			if o.kind == "" || o.country == "" {
				return usagef(env, "gf orgs create needs --kind (research, sme, startup, industry or public) and --country (e.g. DE)")
			}
			return withClient(env, func(c *client.Client) error {
				org, err := c.CreateOrg(ctx, client.NewOrg{Name: args[1], Kind: o.kind, Country: strings.ToUpper(o.country)})
				if err != nil {
					return err
				}
				return emit(env, org, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Created organisation %s (%s, %s)\n", org.Name, org.Kind, org.Country)
					return err
				})
			})
		case len(args) > 1 || len(args) == 1 && args[0] == "create":
			return errUsage
		case o.kind != "" || o.country != "":
			return usagef(env, "--kind and --country go with gf orgs create NAME")
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				org, err := c.Org(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, org, func(w io.Writer) error { return writeOrgsTable(w, []core.Org{*org}) })
			}
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return err
			}
			if orgs == nil {
				orgs = []core.Org{}
			}
			return emit(env, orgs, func(w io.Writer) error { return writeOrgsTable(w, orgs) })
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&o.kind, "kind", "", "with create: research, sme, startup, industry or public")
	fs.StringVar(&o.country, "country", "", "with create: ISO 3166-1 alpha-2 country code, e.g. DE")
	return cmd
}

func writeOrgsTable(w io.Writer, orgs []core.Org) error {
	tw := newTable(w)
	row(tw, "NAME", "KIND", "COUNTRY", "CREATED")
	for _, o := range orgs {
		row(tw, o.Name, o.Kind, o.Country, date(o.CreatedAt))
	}
	return tw.Flush()
}

// projectsOpts are gf projects' flags.
type projectsOpts struct {
	org, description string
	budget           float64
}

func projectsCommand(env *cliEnv) *cobra.Command {
	o := &projectsOpts{}
	cmd := newCommand(env, "projects [NAME | create NAME --org ORG [--budget HOURS]]", "list projects, show one, or create one", func(ctx context.Context, env *cliEnv, args []string) error {
		switch {
		case len(args) == 2 && args[0] == "create":
			if o.org == "" {
				return usagef(env, "gf projects create needs --org ORG")
			}
			if o.budget < 0 {
				return usagef(env, "--budget must not be negative")
			}
			return withClient(env, func(c *client.Client) error {
				p, err := c.CreateProject(ctx, client.NewProject{Name: args[1], Org: o.org, Description: o.description, BudgetAccelHrs: o.budget})
				if err != nil {
					return err
				}
				return emit(env, p, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Created project %s of %s (budget %s)\n", p.Name, p.Org, budgetText(p.BudgetAccelHrs))
					return err
				})
			})
		case len(args) > 1 || len(args) == 1 && args[0] == "create":
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				p, err := c.Project(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, p, func(w io.Writer) error { return writeProjectsTable(w, []core.Project{*p}) })
			}
			ps, err := c.Projects(ctx, o.org)
			if err != nil {
				return err
			}
			if ps == nil {
				ps = []core.Project{}
			}
			return emit(env, ps, func(w io.Writer) error { return writeProjectsTable(w, ps) })
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&o.org, "org", "", "the organisation (filters the list; required with create)")
	fs.Float64Var(&o.budget, "budget", 0, "with create: budget in accelerator-hours (0 = unlimited)")
	fs.StringVar(&o.description, "description", "", "with create: what the project is for")
	return cmd
}

// budgetText formats a budget in accelerator-hours.
func budgetText(h float64) string {
	if h == 0 {
		return "unlimited"
	}
	return number(h) + " accel-h"
}

func writeProjectsTable(w io.Writer, ps []core.Project) error {
	tw := newTable(w)
	row(tw, "NAME", "ORG", "BUDGET", "CREATED", "DESCRIPTION")
	for _, p := range ps {
		row(tw, p.Name, p.Org, budgetText(p.BudgetAccelHrs), date(p.CreatedAt), p.Description)
	}
	return tw.Flush()
}

// usersOpts are gf users' flags.
type usersOpts struct {
	org, role, email string
	sites            []string
	service          bool
}

func usersCommand(env *cliEnv) *cobra.Command {
	o := &usersOpts{}
	cmd := newCommand(env, "users [NAME | create NAME [--org ORG] [--role user|org-admin|admin|operator|allocator|reviewer] [--sites A,B] [--email ADDR] [--service]]", "list users, show one, or create one and print its API token (administrators)", func(ctx context.Context, env *cliEnv, args []string) error {
		switch {
		case len(args) == 2 && args[0] == "create":
			return withClient(env, func(c *client.Client) error {
				nu := client.NewUser{Name: args[1], Org: o.org, Role: o.role, Email: o.email, Sites: o.sites}
				if o.service {
					nu.Kind = core.UserService
				}
				u, err := c.CreateUser(ctx, nu)
				if err != nil {
					return err
				}
				return emit(env, u, func(w io.Writer) error { return writeCreatedUser(w, u) })
			})
		case len(args) > 1 || len(args) == 1 && args[0] == "create":
			return errUsage
		case o.org != "" || o.role != "" || o.email != "" || o.service || len(o.sites) > 0:
			return usagef(env, "--org, --role, --sites, --email and --service go with gf users create NAME")
		}
		return withClient(env, func(c *client.Client) error {
			if len(args) == 1 {
				u, err := c.User(ctx, args[0])
				if err != nil {
					return err
				}
				return emit(env, u, func(w io.Writer) error { return writeUsersTable(w, []core.User{*u}) })
			}
			us, err := c.Users(ctx)
			if err != nil {
				return err
			}
			if us == nil {
				us = []core.User{}
			}
			sort.SliceStable(us, func(i, j int) bool { return us[i].Name < us[j].Name })
			return emit(env, us, func(w io.Writer) error { return writeUsersTable(w, us) })
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&o.org, "org", "", "with create: the user's organisation")
	fs.StringVar(&o.role, "role", "", "with create: user (default), org-admin (administers their organisation), admin (global), operator (of the sites --sites names), allocator (calls and awards) or reviewer (assigned proposals)")
	fs.StringSliceVar(&o.sites, "sites", nil, "with create --role operator: the sites (ids, comma-separated) the operator drains, resumes and takes down, and whose jobs they see and cancel")
	fs.StringVar(&o.email, "email", "", "with create: the user's e-mail address")
	fs.BoolVar(&o.service, "service", false, "with create: a service account, for pipelines (its tokens are made by its organisation's administrators: gf tokens create --user NAME)")
	return cmd
}

func writeUsersTable(w io.Writer, us []core.User) error {
	tw := newTable(w)
	row(tw, "NAME", "ROLE", "ORG", "EMAIL", "CREATED")
	for _, u := range us {
		row(tw, u.Name, u.Role, u.Org, u.Email, date(u.CreatedAt))
	}
	return tw.Flush()
}

// writeCreatedUser shows a new user's token, which the server never shows
// again.
func writeCreatedUser(w io.Writer, u *client.CreatedUser) error {
	org := ""
	if u.User.Org != "" {
		org = " of " + u.User.Org
	}
	_, err := fmt.Fprintf(w, "Created user %s%s (role %s).\nAPI token (shown only once; store it now):\n\n  %s\n\nUse it with: export GF_TOKEN=%s\n",
		u.User.Name, org, u.User.Role, u.Token, u.Token)
	return err
}
