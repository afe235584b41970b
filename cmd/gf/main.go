// Command gf is Gigafactory's one binary: the control plane (gf serve), the
// command-line client (gf submit, gf jobs, ...) and the digital twin
// (gf simulate).
//
// The command line is parsed by cobra: help on stdout, shell completion
// (gf completion bash|zsh|fish) with job and site ids from the API, and
// flag errors that name the flag. main.go builds the tree of commands and
// turns errors into exit codes; each command lives in its cli_*.go file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage asks for the command's usage line and exit 2; the command has
// already said what is wrong (usagef) or the arguments are plainly off.
var errUsage = errors.New("usage")

// flagError is a command line cobra could not parse: an unknown flag, a
// bad value, a missing argument. It exits 2.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

// runFunc is what a gf command does once its flags are parsed.
type runFunc func(ctx context.Context, env *cliEnv, args []string) error

// newCommand returns a cobra command that calls run with the shared
// environment. use is the command's name followed by its arguments, as in
// "show JOB".
func newCommand(env *cliEnv, use, short string, run runFunc) *cobra.Command {
	if name, rest, ok := strings.Cut(use, " "); ok && !strings.Contains(rest, "[flags]") {
		use = name + " [flags] " + rest
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		// gf checks its arguments itself, with messages that say what
		// an argument should look like.
		Args: cobra.ArbitraryArgs,
	}
	if run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			env.dashdash = cmd.ArgsLenAtDash() >= 0
			return run(cmd.Context(), env, args)
		}
	}
	return cmd
}

// newRoot builds gf's command tree. Explicit, so the binary's surface is
// visible in one place.
func newRoot(env *cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "gf [global flags] COMMAND [flags] [args]",
		Short:         "gf: Gigafactory, one control plane for a network of AI compute centres",
		Version:       version,
		SilenceErrors: true, // run reports errors, with what to do next
		SilenceUsage:  true, // a mistake gets one line, not the whole flag list
		// Args stays nil: cobra then answers an unknown command with its
		// "Did you mean this?" suggestions.
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(env.stderr, cmd.UsageString())
			return errSilentUsage
		},
	}
	env.globalFlags(root.PersistentFlags())
	root.PersistentPreRun = func(*cobra.Command, []string) { env.fromEnvironment() }
	registerGlobalCompletions(env, root)
	root.SetVersionTemplate("gf {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &flagError{err} })
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(helpTemplate)
	root.AddGroup(
		&cobra.Group{ID: "jobs", Title: "Jobs:"},
		&cobra.Group{ID: "network", Title: "The network and its accounts:"},
		&cobra.Group{ID: "run", Title: "Running Gigafactory:"},
	)
	add := func(group string, cs ...*cobra.Command) {
		for _, c := range cs {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("jobs", submitCommand(env), jobsCommand(env), showCommand(env), cancelCommand(env), logsCommand(env), explainCommand(env))
	add("network", sitesCommand(env), siteCommand(env), orgsCommand(env), projectsCommand(env), usersCommand(env), tokensCommand(env), usageCommand(env))
	add("network", whoamiCommand(env), loginCommand(env))
	add("network", callsCommand(env), callCommand(env), proposeCommand(env), proposalsCommand(env), reviewCommand(env), awardCommand(env), awardsCommand(env), membersCommand(env))
	add("network", reserveCommand(env), reservationsCommand(env))
	add("network", auditCommand(env), controllersCommand(env))
	add("network", aiactCommand(env))
	add("run", serveCommand(env), simulateCommand(env), benchCommand(env))
	root.AddCommand(newCommand(env, "version", "print gf's version", func(ctx context.Context, env *cliEnv, args []string) error {
		if err := checkOutput(env); err != nil {
			return err
		}
		v := struct {
			Version string `json:"version"`
		}{version}
		return emit(env, v, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "gf %s\n", version)
			return err
		})
	}))
	// cobra's own help and completion commands, made now so that their
	// one-line summaries read like gf's. The completion scripts go where
	// the output is set now.
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Short = "show help for a command: gf help submit"
		case "completion":
			c.Short = "print a shell completion script: bash, zsh, fish or powershell (job and site ids come from the server)"
		}
	}
	return root
}

// errSilentUsage exits 2 after the usage was printed.
var errSilentUsage = errors.New("usage printed")

// usageTemplate is every command's usage: its own flags, and the global
// ones only on gf --help, so they are listed once.
const usageTemplate = `Usage:
  {{.UseLine}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if not .AllChildCommandsHaveGroup}}

Other commands:{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if not .HasParent}}

Global flags (every command takes them, before or after its name):
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}

Run 'gf help COMMAND' or 'gf COMMAND --help' for a command's own flags.{{else}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}

Global flags: --url, --token, -o/--output table|json|yaml, --data (see 'gf --help').{{end}}
`

// helpTemplate puts the command's description above its usage.
const helpTemplate = `{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}

{{end}}{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes gf with args and returns the process exit code: 0 on
// success, 2 for a mistake in the command line, a job's exit code when a
// command carries one (gf submit --wait), else 1.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(env)
	root.SetArgs(oneDashLongFlags(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if cmd == nil {
		cmd = root
	}
	return report(stderr, cmd, err)
}

// oneDashLongFlags rewrites "-name" and "-name=value" to "--name" and
// "--name=value" where name is a long flag of the command args run: gf's
// flags were Go's flag package's, which took -all for --all, and command
// lines written then keep working. "-ojson" stays -o json (no flag is
// named ojson), and nothing after "--" is touched.
func oneDashLongFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && (cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil) {
			out[i] = "-" + a
		}
	}
	return out
}

// report writes err for cmd, with what to do next, and returns the exit
// code.
func report(stderr io.Writer, cmd *cobra.Command, err error) int {
	path := cmd.CommandPath()
	var fe *flagError
	switch {
	case errors.Is(err, errSilentUsage):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "usage: %s\nsee '%s --help'\n", cmd.UseLine(), path)
		return 2
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "%s: %v\nsee '%s --help'\n", path, fe.err, path)
		return 2
	case strings.HasPrefix(err.Error(), "unknown command "):
		// cobra's message carries its "Did you mean this?" suggestions.
		fmt.Fprintf(stderr, "gf: %s\nsee 'gf --help'\n", strings.TrimRight(err.Error(), "\n"))
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	// A command may carry a job's exit code (gf submit --wait).
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
