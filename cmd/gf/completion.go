package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// Shell completion. cobra writes the scripts (gf completion bash|zsh|fish)
// and answers the shell through its hidden __complete command; the
// functions here add what only a control plane knows: job, site and
// project ids. Each asks the server found as every command finds it
// (--url, GF_URL, --data) and, when none answers within
// completionTimeout, completes nothing rather than print an error into
// the user's prompt.

// completionTimeout bounds the API call behind one completion.
const completionTimeout = 2 * time.Second

// completionLimit is how many ids one completion offers at most.
const completionLimit = 200

// completeFunc is cobra's completion callback.
type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// completeFrom completes the positional arguments of a command from list,
// for at most maxArgs of them (0: any number), never from files.
// Words already on the command line are not offered again.
func completeFrom(env *cliEnv, maxArgs int, list func(ctx context.Context, c *client.Client) ([]cobra.Completion, error)) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		given := map[string]bool{}
		for _, a := range args {
			given[a] = true
		}
		var out []cobra.Completion
		for _, c := range askServer(cmd.Context(), env, list) {
			if word, _, _ := strings.Cut(c, "\t"); !given[word] {
				out = append(out, c)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// askServer runs list against the discovered server; nil when there is
// none or it fails.
func askServer(ctx context.Context, env *cliEnv, list func(ctx context.Context, c *client.Client) ([]cobra.Completion, error)) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	env.fromEnvironment()
	c, _, err := connect(env)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	out, err := list(ctx, c)
	if err != nil {
		return nil
	}
	return out
}

// completeJobs completes job ids, newest first, described by name and
// state; active says whether only jobs that have not ended are offered
// (gf cancel, gf explain).
func completeJobs(env *cliEnv, maxArgs int, active bool) completeFunc {
	return completeFrom(env, maxArgs, func(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
		f := client.JobFilter{Limit: completionLimit}
		if active {
			f.States = activeStates
		}
		var out []cobra.Completion
		for j, err := range c.Jobs(ctx, f) {
			if err != nil {
				return out, err
			}
			out = append(out, cobra.CompletionWithDesc(j.ID.String(), j.Name+" ("+string(j.State)+")"))
			if len(out) >= completionLimit {
				break
			}
		}
		return out, nil
	})
}

// listSites completes site ids, described by name.
func listSites(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
	sites, err := c.Sites(ctx)
	var out []cobra.Completion
	for _, s := range sites {
		out = append(out, cobra.CompletionWithDesc(s.ID, s.Name))
	}
	return out, err
}

// completeSites completes site ids from the API.
func completeSites(env *cliEnv, maxArgs int) completeFunc {
	return completeFrom(env, maxArgs, listSites)
}

// completeProjects completes the projects the caller may see.
func completeProjects(env *cliEnv) completeFunc {
	return completeFrom(env, 0, func(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
		ps, err := c.Projects(ctx, "")
		var out []cobra.Completion
		for _, p := range ps {
			out = append(out, cobra.CompletionWithDesc(p.Name, p.Org))
		}
		return out, err
	})
}

// fixed completes a flag from a fixed list of words.
func fixed(words ...string) completeFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerGlobalCompletions completes the global flags' values.
func registerGlobalCompletions(env *cliEnv, root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("output", fixed(outTable, outJSON, outYAML))
	_ = root.MarkPersistentFlagDirname("data")
}

// registerSiteFlag completes a command's --site flag with site ids.
func registerSiteFlag(env *cliEnv, cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("site", completeSites(env, 0))
}

// stateWords are the values gf jobs --state completes to.
func stateWords() []string {
	var out []string
	for _, s := range []core.State{core.StatePending, core.StateStarting, core.StateRunning, core.StateCompleted, core.StateFailed, core.StateCancelled, core.StateTimeout} {
		out = append(out, string(s))
	}
	return append(out, strings.Fields("PD CF R CD F CA TO")...)
}
