package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

// submitOpts are gf submit's flags. Given with a spec file or script they
// override what it says, as sbatch's options override #SBATCH directives.
type submitOpts struct {
	fs *pflag.FlagSet // to see which flags were set

	name, project, model, qos   string
	accelerators                core.Milli
	nodes                       int
	walltime                    time.Duration
	preemptible, checkpointable bool
	env                         envFlag
	workdir, residency          string
	modelTag, site              string
	key                         string
	wait, parsable              bool
	dependency, array, begin    string
}

// milliFlag parses a decimal number of accelerators ("2", "0.5").
type milliFlag struct{ v *core.Milli }

func (f milliFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return f.v.String()
}

// Type names the value in help: --accelerators N.
func (f milliFlag) Type() string { return "N" }

func (f milliFlag) Set(s string) error {
	m, err := core.ParseMilli(s)
	if err != nil {
		return err
	}
	*f.v = m
	return nil
}

// walltimeFlag parses a walltime as spec files do ("1h30m", "2:00:00").
type walltimeFlag struct{ v *time.Duration }

func (f walltimeFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return f.v.String()
}

// Type names the value in help.
func (f walltimeFlag) Type() string { return "TIME" }

func (f walltimeFlag) Set(s string) error {
	d, err := spec.ParseWalltime(s)
	if err != nil {
		return err
	}
	*f.v = d
	return nil
}

// envFlag collects repeated --env K=V.
type envFlag map[string]string

func (e *envFlag) String() string {
	var kv []string
	for _, k := range sortedKeys(*e) {
		kv = append(kv, k+"="+(*e)[k])
	}
	return strings.Join(kv, ",")
}

// Type names the value in help.
func (e *envFlag) Type() string { return "NAME=VALUE" }

func (e *envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	if *e == nil {
		*e = envFlag{}
	}
	(*e)[k] = v
	return nil
}

func submitCommand(env *cliEnv) *cobra.Command {
	o := &submitOpts{}
	cmd := newCommand(env, "submit [flags] (FILE... | -- CMD [ARGS...])", "submit a job: a spec file (YAML/JSON), a batch script with #SBATCH directives, or -- CMD ARGS...", o.run)
	o.register(cmd.Flags())
	registerSiteFlag(env, cmd)
	_ = cmd.RegisterFlagCompletionFunc("project", completeProjects(env))
	cmd.Example = `  gf submit -- sh -c 'echo hello'
  gf submit -a 8 -t 2:00:00 --project nlp -- python train.py
  gf submit train.sbatch          # #SBATCH directives, as sbatch reads them
  gf submit job.yaml --wait       # exit with the job's exit code`
	return cmd
}

func (o *submitOpts) register(fs *pflag.FlagSet) {
	o.fs = fs
	fs.StringVar(&o.name, "name", "", "job name (default: the command's or file's name)")
	fs.StringVar(&o.project, "project", "", "project to charge (default: the server's default project)")
	acc := milliFlag{&o.accelerators}
	fs.VarP(acc, "accelerators", "a", "number of accelerators, decimal (0.5 = half of one)")
	fs.Var(acc, "gpus", "same as --accelerators")
	fs.StringVar(&o.model, "model", "", `acceptable accelerator models, "|"-separated (e.g. h100|h200)`)
	fs.IntVar(&o.nodes, "nodes", 0, "number of nodes (0 = let the scheduler decide)")
	wt := walltimeFlag{&o.walltime}
	fs.VarP(wt, "walltime", "t", "time limit: 1h30m, 90m or Slurm's 2:00:00, 1-00:00:00")
	fs.StringVar(&o.qos, "qos", "", "access mode: playground, normal, fast-lane, large-scale or moonshot")
	fs.BoolVar(&o.preemptible, "preemptible", false, "the job may be preempted (and requeued)")
	fs.BoolVar(&o.checkpointable, "checkpointable", false, "the job checkpoints and can be requeued after a stop")
	fs.Var(&o.env, "env", "set an environment variable NAME=VALUE (repeatable)")
	fs.StringVar(&o.workdir, "workdir", "", "working directory of the job")
	fs.StringVar(&o.residency, "residency", "", "countries the job may run in, comma-separated (DE,FR or EU)")
	fs.StringVar(&o.modelTag, "model-tag", "", "the AI model this job trains or serves (for the AI Act ledger)")
	fs.StringVar(&o.site, "site", "", "run at this site only")
	fs.StringVar(&o.key, "idempotency-key", "", "make retries of this submission return the same job (default: a fresh random key)")
	fs.BoolVar(&o.wait, "wait", false, "wait until the job ends and exit with its exit code")
	fs.StringVarP(&o.dependency, "dependency", "d", "", "start only after other jobs, as sbatch: afterok:1234[:1235], afterany:, afternotok:, after:ID[+MIN], singleton; ',' all, '?' any")
	fs.StringVar(&o.array, "array", "", "submit a job array, as sbatch: 0-99, 1,3,5, 0-99:2, with %N to run at most N tasks at once")
	fs.StringVar(&o.begin, "begin", "", "start no earlier than this, as sbatch: now+1hour, 16:00, 2026-12-24T18:00")
	fs.BoolVar(&o.parsable, "parsable", false, "print only the job id, as sbatch --parsable (for jobid=$(gf submit --parsable ...))")
}

// isSpecFile reports whether arg names a job spec or batch script rather
// than a command: a file with a spec or script extension, or an existing
// file that starts with "#!". "-" is the spec on standard input.
func isSpecFile(arg string) bool {
	if arg == "-" {
		return true
	}
	switch strings.ToLower(filepath.Ext(arg)) {
	case ".yaml", ".yml", ".json", ".sh", ".sbatch":
		return true
	}
	f, err := os.Open(arg)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == "#!"
}

// isScript reports whether a spec file is a batch script: a "#!" first
// line or a .sh/.sbatch name.
func isScript(name string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".sh", ".sbatch":
		return true
	}
	return strings.HasPrefix(string(data), "#!")
}

// readSpec parses one spec file or script; warnings go to stderr.
func readSpec(env *cliEnv, name string) (core.JobSpec, error) {
	var data []byte
	var err error
	label := name
	if name == "-" {
		label = "stdin"
		data, err = io.ReadAll(env.stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return core.JobSpec{}, err
	}
	if !isScript(name, data) {
		return spec.Parse(label, data)
	}
	s, warnings, err := spec.ParseScript(label, data)
	for _, w := range warnings {
		fmt.Fprintf(env.stderr, "gf submit: warning: %s\n", w)
	}
	return s, err
}

// specs builds the job specs args ask for.
func (o *submitOpts) specs(env *cliEnv, args []string) ([]core.JobSpec, error) {
	// After "--" everything is a command, as with sbatch --wrap.
	files := len(args) > 0 && !env.dashdash
	for _, a := range args {
		files = files && isSpecFile(a)
	}
	if !files {
		s := core.JobSpec{Command: args, Name: filepath.Base(args[0])}
		o.apply(&s, true)
		return []core.JobSpec{s}, nil
	}
	var out []core.JobSpec
	var errs []error
	for _, a := range args {
		s, err := readSpec(env, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.apply(&s, false)
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// apply copies the flags into s: all of them for a command, only those
// given on the command line for a file (they override it).
func (o *submitOpts) apply(s *core.JobSpec, all bool) {
	set := map[string]bool{}
	if o.fs != nil {
		o.fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	}
	given := func(names ...string) bool {
		for _, n := range names {
			if all || set[n] {
				return true
			}
		}
		return false
	}
	if given("name") && o.name != "" {
		s.Name = o.name
	}
	if given("project") && o.project != "" {
		s.Project = o.project
	}
	if given("accelerators", "a", "gpus") {
		s.Accelerators = o.accelerators
	}
	if given("model") && o.model != "" {
		s.Model = o.model
	}
	if given("nodes") && o.nodes != 0 {
		s.Nodes = o.nodes
	}
	if given("walltime", "t") && o.walltime != 0 {
		s.Walltime = core.Duration(o.walltime)
	}
	if given("qos") && o.qos != "" {
		s.QoS = o.qos
	}
	if set["preemptible"] || all && o.preemptible {
		s.Preemptible = o.preemptible
	}
	if set["checkpointable"] || all && o.checkpointable {
		s.Checkpointable = o.checkpointable
	}
	if len(o.env) > 0 {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		for k, v := range o.env {
			s.Env[k] = v
		}
	}
	if given("workdir") && o.workdir != "" {
		s.WorkDir = o.workdir
	}
	if given("residency") && o.residency != "" {
		s.Residency = nil
		for _, c := range strings.Split(o.residency, ",") {
			if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
				s.Residency = append(s.Residency, c)
			}
		}
	}
	if given("model-tag") && o.modelTag != "" {
		s.ModelTag = o.modelTag
	}
	if given("site") && o.site != "" {
		s.Site = o.site
	}
	if given("begin") && o.begin != "" {
		s.Begin = o.begin
	}
}

// slurmFlags applies --dependency and --array, which parse as sbatch's do;
// like sbatch, the command line wins over the script's #SBATCH lines.
func (o *submitOpts) slurmFlags(env *cliEnv, s *core.JobSpec) error {
	if o.dependency != "" {
		d, err := spec.ParseDependency(o.dependency)
		if err != nil {
			return usagef(env, "--dependency: %v", err)
		}
		s.Dependency = d
	}
	if o.array != "" {
		a, err := spec.ParseArray(o.array)
		if err != nil {
			return usagef(env, "--array: %v", err)
		}
		s.Array = a
	}
	return nil
}

// newIdempotencyKey returns a fresh random key, so that the client's
// retries of one invocation can never submit twice.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "gf-" + hex.EncodeToString(b)
}

// exitError ends gf with a given exit code, like the job it waited for.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit code gf should end with.
func (e *exitError) ExitCode() int { return e.code }

// jobExitCode is the exit code gf submit --wait ends with for j: 0 when it
// completed, its own exit code when it has one, else 1 (killed by a
// signal, cancelled, timed out or never started).
func jobExitCode(j *core.Job) int {
	switch {
	case j.State == core.StateCompleted:
		return 0
	case j.ExitCode != nil && *j.ExitCode != 0:
		return *j.ExitCode
	}
	return 1
}

func (o *submitOpts) run(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	if o.nodes < 0 {
		return usagef(env, "--nodes must not be negative, got %d", o.nodes)
	}
	if err := checkOutput(env); err != nil {
		return err
	}
	specs, err := o.specs(env, args)
	if err != nil {
		return err
	}
	for i := range specs {
		if err := o.slurmFlags(env, &specs[i]); err != nil {
			return err
		}
	}
	// The job runs where gf submit ran, as with sbatch, when the site
	// allows it (the server warns otherwise); SLURM_SUBMIT_DIR says so.
	if wd, err := os.Getwd(); err == nil {
		for i := range specs {
			if specs[i].SubmitDir == "" {
				specs[i].SubmitDir = wd
			}
		}
	}
	key := o.key
	if key == "" {
		key = newIdempotencyKey()
	}
	return withClient(env, func(c *client.Client) error {
		var jobs []core.Job
		if len(specs) == 1 {
			j, err := c.Submit(ctx, specs[0], key)
			if err != nil {
				return err
			}
			jobs = []core.Job{*j}
		} else {
			jobs, err = c.SubmitBatch(ctx, specs, key)
			if err != nil {
				return err
			}
		}
		for _, j := range jobs {
			for _, w := range j.Warnings {
				fmt.Fprintf(env.stderr, "gf submit: warning: job %d: %s\n", j.ID, w)
			}
		}
		if env.output == outTable || env.output == "" {
			for _, j := range jobs {
				switch {
				case o.parsable:
					fmt.Fprintf(env.stdout, "%d\n", j.ID)
				case j.ArrayTaskID != nil && j.Spec.Array != nil:
					fmt.Fprintf(env.stdout, "Submitted batch job %d (array %d_[%s], %d tasks)\n", j.ID, j.ArrayJobID, j.Spec.Array, len(j.Spec.Array.Indices()))
				default:
					fmt.Fprintf(env.stdout, "Submitted batch job %d\n", j.ID)
				}
			}
		}
		if o.wait {
			for i, j := range jobs {
				end, err := c.WaitJob(ctx, j.ID, 2*time.Second)
				if err != nil {
					return err
				}
				jobs[i] = *end
			}
		}
		if env.output == outJSON || env.output == outYAML {
			var v any = jobs
			if len(jobs) == 1 {
				v = jobs[0]
			}
			if err := emit(env, v, nil); err != nil {
				return err
			}
		}
		if !o.wait {
			return nil
		}
		for _, j := range jobs {
			if code := jobExitCode(&j); code != 0 {
				msg := fmt.Sprintf("job %d %s", j.ID, j.State)
				if j.ExitCode != nil {
					msg += fmt.Sprintf(" with exit code %d", *j.ExitCode)
				}
				if j.Signal != "" {
					msg += " (" + j.Signal + ")"
				}
				if j.Reason != "" && !strings.Contains(msg, j.Reason) {
					msg += ": " + j.Reason
				}
				return &exitError{code: code, msg: msg}
			}
		}
		return nil
	})
}
