package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// stateCodes maps squeue's compact state codes to Gigafactory's states, so
// "gf jobs --state PD,R" works for Slurm users.
var stateCodes = map[string]core.State{
	"PD": core.StatePending, "CF": core.StateStarting, "R": core.StateRunning,
	"CD": core.StateCompleted, "F": core.StateFailed, "CA": core.StateCancelled, "TO": core.StateTimeout,
}

// activeStates are what gf jobs shows by default, like squeue: jobs that
// have not ended.
var activeStates = []core.State{core.StatePending, core.StateStarting, core.StateRunning}

// parseStates reads a comma-separated list of states or squeue codes.
func parseStates(s string) ([]core.State, error) {
	var out []core.State
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if st, ok := stateCodes[strings.ToUpper(part)]; ok {
			out = append(out, st)
			continue
		}
		st := core.State(strings.ToLower(part))
		if !st.Valid() {
			return nil, fmt.Errorf("unknown state %q: want pending, starting, running, completed, failed, cancelled or timeout (or PD, CF, R, CD, F, CA, TO)", part)
		}
		out = append(out, st)
	}
	return out, nil
}

// jobsOpts are gf jobs' flags.
type jobsOpts struct {
	state, project, user, site string
	all, start, priority       bool
	limit                      int
}

func jobsCommand(env *cliEnv) *cobra.Command {
	o := &jobsOpts{}
	cmd := newCommand(env, "jobs", "list jobs like squeue: pending and running ones, newest first (--all adds ended ones)", o.run)
	fs := cmd.Flags()
	fs.StringVar(&o.state, "state", "", "only jobs in these states, comma-separated (pending,running or PD,R)")
	fs.StringVar(&o.project, "project", "", "only jobs of this project")
	fs.StringVar(&o.user, "user", "", "only jobs of this user")
	fs.StringVar(&o.site, "site", "", "only jobs placed at this site")
	fs.BoolVar(&o.all, "all", false, "include ended jobs")
	fs.IntVar(&o.limit, "limit", 0, "show at most this many jobs (0 = all)")
	fs.BoolVar(&o.start, "start", false, "show the estimated start of pending jobs")
	fs.BoolVar(&o.priority, "priority", false, "show pending jobs' priority and one column per factor (its points, as sprio; -o json adds each job's \"priority\": {priority, factors})")
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	registerSiteFlag(env, cmd)
	_ = cmd.RegisterFlagCompletionFunc("state", fixed(stateWords()...))
	_ = cmd.RegisterFlagCompletionFunc("project", completeProjects(env))
	cmd.Example = `  gf jobs --state PD,R --project nlp
  gf jobs --priority -o json      # each job with its priority factors`
	return cmd
}

func (o *jobsOpts) filter() (client.JobFilter, error) {
	f := client.JobFilter{Project: o.project, User: o.user, Site: o.site}
	switch {
	case o.state != "":
		st, err := parseStates(o.state)
		if err != nil {
			return f, err
		}
		f.States = st
	case !o.all:
		f.States = activeStates
	}
	if o.limit > 0 {
		f.Limit = min(o.limit, 1000)
	}
	return f, nil
}

func (o *jobsOpts) run(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 {
		return usagef(env, "gf jobs takes no arguments (did you mean gf show %s?)", args[0])
	}
	if o.limit < 0 {
		return usagef(env, "--limit must not be negative")
	}
	f, err := o.filter()
	if err != nil {
		return usagef(env, "--state: %v", err)
	}
	return withClient(env, func(c *client.Client) error {
		jobs := []core.Job{}
		for j, err := range c.Jobs(ctx, f) {
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			if o.limit > 0 && len(jobs) >= o.limit {
				break
			}
		}
		v := jobsView{start: o.start}
		if o.priority {
			v.explain = map[core.JobID]*client.Explanation{}
		}
		for i, j := range jobs {
			if j.State != core.StatePending {
				continue
			}
			if o.start && j.EstimatedStart == nil {
				full, err := c.GetJob(ctx, j.ID)
				if err != nil {
					return err
				}
				jobs[i] = *full
			}
			if o.priority {
				e, err := c.Explain(ctx, j.ID)
				if err != nil {
					return err
				}
				v.explain[j.ID] = e
			}
		}
		var doc any = jobs
		if o.priority {
			doc = withPriorities(jobs, v)
		}
		return emit(env, doc, func(w io.Writer) error {
			return writeJobsTable(w, jobs, time.Now(), v)
		})
	})
}

// jobsView says which optional columns gf jobs shows.
type jobsView struct {
	start   bool
	explain map[core.JobID]*client.Explanation // non-nil with --priority
}

// jobTime is squeue's TIME: how long a pending job has waited, a running
// one has run, or an ended one ran.
func jobTime(j core.Job, now time.Time) time.Duration {
	switch {
	case j.State == core.StatePending:
		return now.Sub(j.SubmitTime)
	case j.State.Terminal() && j.EndTime != nil:
		if j.StartTime == nil {
			return 0
		}
		return j.EndTime.Sub(*j.StartTime)
	case j.StartTime != nil:
		return now.Sub(*j.StartTime)
	}
	return now.Sub(j.SubmitTime)
}

// accelText shows what a job asks for: "8", "0.5", "h100:8".
func accelText(s core.JobSpec) string {
	if s.Model != "" {
		return s.Model + ":" + s.Accelerators.String()
	}
	return s.Accelerators.String()
}

// explainPath strips the envelope from a flattened explain member's path:
// "explanation.status.factors.age" and "status.factors.age" both become
// "factors.age".
func explainPath(p string) string {
	p = strings.TrimPrefix(p, "explanation.")
	return strings.TrimPrefix(p, "status.")
}

// statusMembers are the explain members gf shows in their own lines, or
// that only identify the job.
var statusMembers = map[string]bool{
	"id": true, "known": true, "state": true, "reason": true, "reasons": true, "estimated_start": true, "priority": true,
}

// extraMembers lists an explanation's members beyond the job and the
// status' own fields, in document order, paths without the envelope.
func extraMembers(e *client.Explanation) []field {
	if e == nil || e.Raw == nil {
		return nil
	}
	all, err := flattenJSON(e.Raw)
	if err != nil {
		return nil
	}
	var out []field
	for _, f := range all {
		if strings.HasPrefix(f.path, "job.") || f.path == "job" {
			continue
		}
		p := explainPath(f.path)
		if statusMembers[strings.SplitN(p, "[", 2)[0]] {
			continue
		}
		f.path = p
		out = append(out, f)
	}
	return out
}

// priorityBreakdown is the "priority" member of the explain answer: the
// total and each factor, as internal/sched.Breakdown encodes them.
type priorityBreakdown struct {
	Priority float64          `json:"priority"`
	Factors  []priorityFactor `json:"factors"`
}

// priorityFactor is one term of a job's priority, like a column of sprio:
// Value in [0,1], times Weight, gives Points.
type priorityFactor struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight,omitempty"`
	Points float64 `json:"points,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// priorityOf reads an explanation's priority breakdown: the "priority"
// member when it has factors, else (servers that send the factors as a
// flat object, such as "priority_factors") every other numeric member,
// each as a factor with a value only. nil when there is none.
func priorityOf(e *client.Explanation) *priorityBreakdown {
	if e == nil {
		return nil
	}
	var b priorityBreakdown
	if raw := e.Extra["priority"]; raw != nil && json.Unmarshal(raw, &b) == nil && len(b.Factors) > 0 {
		if b.Priority == 0 {
			b.Priority = e.Status.Priority
		}
		return &b
	}
	b = priorityBreakdown{Priority: e.Status.Priority}
	for _, f := range extraMembers(e) {
		if !f.num {
			continue
		}
		name := f.path
		if i := strings.LastIndex(name, "."); i >= 0 && !strings.HasSuffix(name, "]") {
			name = name[i+1:]
		}
		v, _ := strconv.ParseFloat(f.value, 64)
		b.Factors = append(b.Factors, priorityFactor{Name: name, Value: v})
	}
	if len(b.Factors) == 0 && b.Priority == 0 {
		return nil
	}
	return &b
}

// priorityFactors returns an explanation's priority factors as gf jobs
// --priority shows them, (COLUMN, value) in the server's order: each
// factor's points (value times weight, which add up to the priority, as
// sprio shows them), or its value when the server sends no weights.
func priorityFactors(e *client.Explanation) []field {
	b := priorityOf(e)
	if b == nil {
		return nil
	}
	var out []field
	for _, f := range b.Factors {
		v := f.Value
		if f.Weight != 0 || f.Points != 0 {
			v = f.Points
		}
		out = append(out, field{path: strings.ToUpper(f.Name), value: number(v), num: true})
	}
	return out
}

// jobPriority is one element of gf jobs --priority -o json: the job as the
// API returns it and, for a pending job, its priority breakdown.
type jobPriority struct {
	*core.Job
	Priority *priorityBreakdown `json:"priority,omitempty"`
}

// MarshalJSON writes the job's members followed by "priority", so the
// element is the API's job object with one member more.
func (j jobPriority) MarshalJSON() ([]byte, error) {
	job, err := json.Marshal(j.Job)
	if err != nil || j.Priority == nil {
		return job, err
	}
	prio, err := json.Marshal(j.Priority)
	if err != nil {
		return nil, err
	}
	job = bytes.TrimRight(job, " \n")
	if !bytes.HasSuffix(job, []byte("}")) {
		return nil, fmt.Errorf("job %d does not encode as an object", j.ID)
	}
	sep := ","
	if bytes.Equal(job, []byte("{}")) {
		sep = ""
	}
	out := append(job[:len(job)-1:len(job)-1], sep+`"priority":`...)
	out = append(out, prio...)
	return append(out, '}'), nil
}

// withPriorities pairs each job with its breakdown in v, for -o json.
func withPriorities(jobs []core.Job, v jobsView) []jobPriority {
	out := make([]jobPriority, len(jobs))
	for i := range jobs {
		out[i] = jobPriority{Job: &jobs[i], Priority: priorityOf(v.explain[jobs[i].ID])}
	}
	return out
}

// writeJobsTable writes gf jobs' table.
func writeJobsTable(w io.Writer, jobs []core.Job, now time.Time, v jobsView) error {
	tw := newTable(w)
	head := []string{"ID", "NAME", "PROJECT", "STATE", "ACCEL", "SITE", "TIME"}
	if v.start {
		head = append(head, "START")
	}
	var factorCols []string
	factors := map[core.JobID]map[string]string{}
	if v.explain != nil {
		head = append(head, "PRIORITY")
		seen := map[string]bool{}
		for _, j := range jobs {
			vals := map[string]string{}
			for _, f := range priorityFactors(v.explain[j.ID]) {
				if !seen[f.path] {
					seen[f.path] = true
					factorCols = append(factorCols, f.path)
				}
				vals[f.path] = f.value
			}
			factors[j.ID] = vals
		}
		head = append(head, factorCols...)
	}
	head = append(head, "REASON")
	row(tw, head...)
	for _, j := range groupArrays(jobs) {
		cells := []string{j.shown, j.Name, j.Project, string(j.State), accelText(j.Spec), j.Site, slurmDuration(jobTime(j.Job, now))}
		if v.start {
			t := j.EstimatedStart
			if j.State != core.StatePending {
				t = j.StartTime
			}
			cells = append(cells, stamp(t))
		}
		if v.explain != nil {
			p := ""
			if e := v.explain[j.ID]; e != nil {
				p = number(e.Status.Priority)
			}
			cells = append(cells, p)
			for _, c := range factorCols {
				cells = append(cells, factors[j.ID][c])
			}
		}
		cells = append(cells, j.Reason)
		row(tw, cells...)
	}
	return tw.Flush()
}

func showCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "show JOB", "show everything about a job, and its events", func(ctx context.Context, env *cliEnv, args []string) error {
		id, err := oneJob(env, args)
		if err != nil {
			return err
		}
		return withClient(env, func(c *client.Client) error {
			j, err := c.GetJob(ctx, id)
			if err != nil {
				return err
			}
			events, err := c.JobEvents(ctx, id)
			if err != nil {
				return err
			}
			if events == nil {
				events = []core.Event{}
			}
			doc := struct {
				Job    *core.Job    `json:"job"`
				Events []core.Event `json:"events"`
			}{j, events}
			return emit(env, doc, func(w io.Writer) error {
				return writeJobDetail(w, j, events, time.Now())
			})
		})
	})
	cmd.ValidArgsFunction = completeJobs(env, 1, false)
	return cmd
}

// shellQuote writes argv so that a shell would read it back.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// writeJobDetail writes gf show's view of a job: one "Key: value" line per
// known field, then its events.
func writeJobDetail(w io.Writer, j *core.Job, events []core.Event, now time.Time) error {
	tw, kv := detailTable(w)
	s := j.Spec
	kv("Job", j.ID.String())
	kv("Name", j.Name)
	kv("Project", j.Project)
	kv("Org", j.Org)
	kv("User", j.User)
	state := string(j.State)
	if j.ExitCode != nil {
		state += fmt.Sprintf(" (exit code %d)", *j.ExitCode)
	}
	if j.Signal != "" {
		state += " (signal " + j.Signal + ")"
	}
	kv("State", state)
	kv("Reason", j.Reason)
	acc := s.Accelerators.String()
	if s.Model != "" {
		acc += " of " + strings.ReplaceAll(s.Model, "|", " or ")
	}
	kv("Accelerators", acc)
	if s.Nodes > 0 {
		kv("Nodes", fmt.Sprint(s.Nodes))
	}
	if s.PerNode > 0 {
		kv("Per node", fmt.Sprint(s.PerNode))
	}
	if s.Walltime > 0 {
		kv("Walltime", slurmDuration(time.Duration(s.Walltime)))
	}
	kv("QoS", s.QoS)
	kv("Priority class", s.PriorityClass)
	var flags []string
	if s.Preemptible {
		flags = append(flags, "preemptible")
	}
	if s.Checkpointable {
		flags = append(flags, "checkpointable")
	}
	kv("Flags", strings.Join(flags, ", "))
	if len(s.Command) > 0 {
		kv("Command", shellQuote(s.Command))
	}
	if s.Script != "" {
		lines := strings.Count(strings.TrimRight(s.Script, "\n"), "\n") + 1
		first, _, _ := strings.Cut(s.Script, "\n")
		kv("Script", fmt.Sprintf("%s ... (%d lines)", first, lines))
	}
	kv("Workdir", s.WorkDir)
	var env []string
	for _, k := range sortedKeys(s.Env) {
		env = append(env, k+"="+s.Env[k])
	}
	kv("Env", strings.Join(env, " "))
	kv("Residency", strings.Join(s.Residency, ","))
	kv("Model tag", s.ModelTag)
	if s.Site != "" && s.Site != j.Site {
		kv("Requested site", s.Site)
	}
	kv("Site", j.Site)
	if j.Alloc != nil {
		var nodes []string
		for _, n := range j.Alloc.Nodes {
			ids := make([]string, len(n.Accels))
			for i, a := range n.Accels {
				ids[i] = fmt.Sprint(a)
			}
			d := n.Node + "[" + strings.Join(ids, ",") + "]"
			if n.Milli > 0 {
				d += " (" + n.Milli.String() + ")"
			}
			nodes = append(nodes, d)
		}
		pool := ""
		if ps := j.Alloc.Pools(); len(ps) > 1 {
			pool = "pools " + strings.Join(ps, ", ") + ": "
		} else if j.Alloc.Pool != "" {
			pool = "pool " + j.Alloc.Pool + ": "
		}
		kv("Allocation", pool+strings.Join(nodes, " "))
	}
	kv("Submitted", stampRel(&j.SubmitTime, now))
	kv("Estimated start", stampRel(j.EstimatedStart, now))
	kv("Started", stampRel(j.StartTime, now))
	kv("Ended", stampRel(j.EndTime, now))
	if j.StartTime != nil {
		kv("Run time", slurmDuration(jobTime(*j, now)))
	}
	if j.Attempt > 0 {
		kv("Attempt", fmt.Sprint(j.Attempt))
	}
	kv("Handle", j.Handle)
	kv("Idempotency key", j.IdempotencyKey)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nEvents:")
	tw = newTable(w)
	row(tw, "  TIME", "TYPE", "STATE", "MESSAGE")
	for _, e := range events {
		row(tw, "  "+stamp(&e.Time), e.Type, string(e.State), e.Message)
	}
	return tw.Flush()
}

func cancelCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "cancel JOB...", "cancel jobs", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) == 0 {
			return errUsage
		}
		refs := make([]string, len(args))
		for i, a := range args {
			ref, err := parseJobRef(env, a)
			if err != nil {
				return err
			}
			refs[i] = ref
		}
		return withClient(env, func(c *client.Client) error {
			var errs []error
			jobs := []core.Job{}
			var lines []string
			for _, ref := range refs {
				got, err := c.Cancel(ctx, ref)
				if err != nil {
					errs = append(errs, fmt.Errorf("job %s: %w", ref, err))
					continue
				}
				jobs = append(jobs, got...)
				if len(got) == 1 && (got[0].ArrayTaskID == nil || strings.Contains(ref, "_")) {
					lines = append(lines, cancelText(got[0]))
				} else {
					lines = append(lines, cancelArrayText(ref, got))
				}
			}
			err := emit(env, jobs, func(w io.Writer) error {
				for _, l := range lines {
					fmt.Fprintln(w, l)
				}
				return nil
			})
			return errors.Join(append(errs, err)...)
		})
	})
	cmd.ValidArgsFunction = completeJobs(env, 0, true)
	return cmd
}

// cancelText says what cancelling j did.
func cancelText(j core.Job) string {
	switch {
	case j.State == core.StateCancelled:
		return fmt.Sprintf("Cancelled job %s", j.DisplayID())
	case j.State.Terminal():
		return fmt.Sprintf("Job %s had already ended: %s", j.DisplayID(), j.State)
	}
	return fmt.Sprintf("Cancelling job %s (%s)", j.DisplayID(), j.State)
}

// cancelArrayText says what cancelling a whole array did.
func cancelArrayText(ref string, tasks []core.Job) string {
	cancelled, ending, ended := 0, 0, 0
	for _, t := range tasks {
		switch {
		case t.State == core.StateCancelled:
			cancelled++
		case t.State.Terminal():
			ended++
		default:
			ending++
		}
	}
	msg := fmt.Sprintf("Cancelled array %s: %d of %d tasks cancelled", ref, cancelled, len(tasks))
	if ending > 0 {
		msg += fmt.Sprintf(", %d being stopped", ending)
	}
	if ended > 0 {
		msg += fmt.Sprintf(", %d had already ended", ended)
	}
	return msg
}

// logsOpts are gf logs' flags.
type logsOpts struct {
	follow, stderr bool
	offset         int64
}

func logsCommand(env *cliEnv) *cobra.Command {
	o := &logsOpts{}
	cmd := newCommand(env, "logs JOB", "print a job's output (-f follows it until the job ends)", func(ctx context.Context, env *cliEnv, args []string) error {
		id, err := oneJob(env, args)
		if err != nil {
			return err
		}
		if o.offset < 0 {
			return usagef(env, "--offset must not be negative")
		}
		stream := client.Stdout
		if o.stderr {
			stream = client.Stderr
		}
		return withClient(env, func(c *client.Client) error {
			rc, err := c.Logs(ctx, id, stream, o.offset, o.follow)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.Copy(env.stdout, rc); err != nil && ctx.Err() == nil {
				return fmt.Errorf("reading job %d's %s: %w", id, stream, err)
			}
			return nil
		})
	})
	fs := cmd.Flags()
	fs.BoolVarP(&o.follow, "follow", "f", false, "follow the output until the job ends")
	fs.BoolVar(&o.stderr, "stderr", false, "print the job's stderr instead of its stdout")
	fs.Int64Var(&o.offset, "offset", 0, "start at this byte offset")
	cmd.ValidArgsFunction = completeJobs(env, 1, false)
	return cmd
}

func explainCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "explain JOB", "explain why a job waits, when it should start and what its priority is made of", func(ctx context.Context, env *cliEnv, args []string) error {
		id, err := oneJob(env, args)
		if err != nil {
			return err
		}
		return withClient(env, func(c *client.Client) error {
			e, err := c.Explain(ctx, id)
			if err != nil {
				return err
			}
			return emit(env, e, func(w io.Writer) error {
				return writeExplanation(w, e, time.Now())
			})
		})
	})
	cmd.ValidArgsFunction = completeJobs(env, 1, false)
	return cmd
}

// writeExplanation writes gf explain's view: the status first, then every
// other member the server sent, flattened.
func writeExplanation(w io.Writer, e *client.Explanation, now time.Time) error {
	j, st := e.Job, e.Status
	id := j.ID
	if id == 0 {
		id = st.ID
	}
	state := st.State
	if state == "" {
		state = j.State
	}
	head := fmt.Sprintf("Job %d", id)
	if j.Name != "" {
		head += " (" + j.Name + ")"
	}
	fmt.Fprintf(w, "%s: %s\n", head, state)
	tw := newTable(w)
	reason := st.Reason
	if reason == "" {
		reason = j.Reason
	}
	if reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", reason)
	}
	reasons := st.Reasons
	if len(reasons) == 1 && reasons[0] == reason {
		reasons = nil // already said
	}
	for i, r := range reasons {
		k := ""
		if i == 0 {
			k = "Details:"
		}
		fmt.Fprintf(tw, "%s\t- %s\n", k, r)
	}
	if est := st.EstimatedStart; est != nil || j.EstimatedStart != nil {
		if est == nil {
			est = j.EstimatedStart
		}
		fmt.Fprintf(tw, "Estimated start:\t%s\n", stampRel(est, now))
	}
	fmt.Fprintf(tw, "Priority:\t%s\n", number(st.Priority))
	var prio priorityBreakdown
	var route struct {
		broker.Decision
		Moves int    `json:"moves"`
		Why   string `json:"why"`
	}
	hasPrio := e.Extra["priority"] != nil && json.Unmarshal(e.Extra["priority"], &prio) == nil && len(prio.Factors) > 0
	hasRoute := e.Extra["route"] != nil && json.Unmarshal(e.Extra["route"], &route) == nil
	for _, f := range extraMembers(e) {
		if (hasPrio && strings.HasPrefix(f.path, "priority.")) || (hasRoute && strings.HasPrefix(f.path, "route.")) {
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", f.path, f.value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if hasPrio {
		fmt.Fprintln(w, "\nPriority factors (like sprio):")
		pt := newTable(w)
		fmt.Fprintln(pt, "  FACTOR\tVALUE\tWEIGHT\tPOINTS\tNOTE")
		for _, f := range prio.Factors {
			fmt.Fprintf(pt, "  %s\t%.3f\t%s\t%.1f\t%s\n", f.Name, f.Value, number(f.Weight), f.Points, f.Note)
		}
		if err := pt.Flush(); err != nil {
			return err
		}
	}
	if hasRoute {
		fmt.Fprintf(w, "\nSite choice (%s", route.Why)
		if route.Moves > 0 {
			fmt.Fprintf(w, ", re-routed %d times", route.Moves)
		}
		fmt.Fprintln(w, "):")
		for _, line := range strings.Split(strings.TrimRight(route.Decision.Text(), "\n"), "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	}
	return nil
}

// shownJob is a row of gf jobs: a job, or the pending tasks of an array
// folded into one row as squeue folds them ("1234_[5-99%4]").
type shownJob struct {
	core.Job
	shown string
}

// groupArrays folds each array's pending tasks into one row, as squeue
// does, with the reason of its lowest task; every other job and task keeps
// its own row.
func groupArrays(jobs []core.Job) []shownJob {
	type key struct{ array core.JobID }
	pending := map[key][]int{}
	lowest := map[key]core.Job{}
	for _, j := range jobs {
		if j.ArrayTaskID != nil && j.State == core.StatePending {
			k := key{j.ArrayJobID}
			pending[k] = append(pending[k], *j.ArrayTaskID)
			if l, ok := lowest[k]; !ok || *j.ArrayTaskID < *l.ArrayTaskID {
				lowest[k] = j
			}
		}
	}
	var out []shownJob
	done := map[key]bool{}
	for _, j := range jobs {
		if j.ArrayTaskID == nil || j.State != core.StatePending {
			out = append(out, shownJob{Job: j, shown: j.DisplayID()})
			continue
		}
		k := key{j.ArrayJobID}
		if done[k] {
			continue
		}
		done[k] = true
		j = lowest[k]
		idx := pending[k]
		if len(idx) == 1 {
			out = append(out, shownJob{Job: j, shown: j.DisplayID()})
			continue
		}
		slices.Sort(idx)
		r := indexRanges(idx)
		if j.Spec.Array != nil && j.Spec.Array.Throttle > 0 {
			r += fmt.Sprintf("%%%d", j.Spec.Array.Throttle)
		}
		out = append(out, shownJob{Job: j, shown: fmt.Sprintf("%d_[%s]", j.ArrayJobID, r)})
	}
	return out
}

// indexRanges writes sorted indices as squeue does: "0-4,7,9-10".
func indexRanges(idx []int) string {
	var b strings.Builder
	for i := 0; i < len(idx); {
		k := i
		for k+1 < len(idx) && idx[k+1] == idx[k]+1 {
			k++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if k == i {
			fmt.Fprintf(&b, "%d", idx[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", idx[i], idx[k])
		}
		i = k + 1
	}
	return b.String()
}
