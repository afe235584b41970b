// Command gf is Gigafactory's one binary: the control plane (gf serve), the
// command-line client (gf submit, gf jobs, ...) and the digital twin
// (gf simulate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one gf subcommand.
type command struct {
	name    string
	summary string
	usage   string // arguments after the name, e.g. "JOB"
	// flags registers the command's own flags on fs; may be nil.
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, env *cliEnv, args []string) error
}

// errUsage asks main to print the command's usage and exit 2.
var errUsage = errors.New("usage")

// commands lists every subcommand. Explicit, so the binary's surface is
// visible in one place.
func commands() []*command {
	var cs []*command
	cs = append(cs, serverCommands()...)
	cs = append(cs, clientCommands()...)
	cs = append(cs, simulateCommand())
	cs = append(cs, &command{name: "version", summary: "print gf's version", run: func(ctx context.Context, env *cliEnv, args []string) error {
		fmt.Fprintf(env.stdout, "gf %s\n", version)
		return nil
	}})
	cs = append(cs, &command{name: "completion", summary: "print a shell completion script", usage: "bash|zsh", run: runCompletion})
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	return cs
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes gf with args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	global := flag.NewFlagSet("gf", flag.ContinueOnError)
	global.SetOutput(stderr)
	env.globalFlags(global)
	global.Usage = func() { printUsage(stderr) }
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return 2
	}
	name := rest[0]
	if name == "help" || name == "-h" || name == "--help" {
		printUsage(stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "gf: unknown command %q (see gf help)\n", name)
		return 2
	}
	fs := flag.NewFlagSet("gf "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env.globalFlags(fs) // global flags are accepted after the command too
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gf %s [flags] %s\n\n%s\n\nflags:\n", cmd.name, cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(fs, rest[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, a := range rest[1:] {
		if a == "--" {
			env.dashdash = true
			break
		}
	}
	if err := cmd.run(ctx, env, fs.Args()); err != nil {
		if errors.Is(err, errUsage) {
			fs.Usage()
			return 2
		}
		fmt.Fprintf(stderr, "gf %s: %v\n", cmd.name, err)
		// A command may carry a job's exit code (gf submit --wait).
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

// interleave moves flags that follow positional arguments in front of them,
// so "gf show 12 -o json" works like "gf show -o json 12". Everything after
// "--" stays positional.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) > 0 && pos[0] == "--" {
		return append(append(flags, "--"), pos[1:]...)
	}
	if len(pos) > 0 {
		return append(append(flags, "--"), pos...)
	}
	return flags
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "gf: Gigafactory, one control plane for a network of AI compute centres\n\nusage: gf [global flags] COMMAND [flags] [args]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nglobal flags: --url URL (GF_URL), --token TOKEN (GF_TOKEN), -o/--output table|json|yaml, --data DIR\n")
}

func runCompletion(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	switch args[0] {
	case "bash":
		fmt.Fprintf(env.stdout, "# bash completion for gf; source it: source <(gf completion bash)\n_gf() {\n  local cur=${COMP_WORDS[COMP_CWORD]}\n  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=( $(compgen -W %q -- \"$cur\") ); else COMPREPLY=( $(compgen -f -- \"$cur\") ); fi\n}\ncomplete -F _gf gf\n", strings.Join(names, " "))
	case "zsh":
		fmt.Fprintf(env.stdout, "#compdef gf\n_arguments '1: :(%s)' '*: :_files'\n", strings.Join(names, " "))
	default:
		return fmt.Errorf("unknown shell %q: want bash or zsh", args[0])
	}
	return nil
}
