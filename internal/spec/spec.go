// Package spec turns what users write into a core.JobSpec: job spec files in
// YAML or JSON (Parse), JSON request bodies (ParseJSON) and batch scripts
// with #SBATCH and #GF directives (ParseScript). Validate checks a spec
// built any other way.
//
// Every parser reports all the problems it finds at once, each as an *Error
// naming the file, line and field, so that "job.yaml:7: accelerators: must
// not be negative, got -1" points straight at the mistake.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
	"gopkg.in/yaml.v3"
)

// Error is one problem found in a spec or script. Error() reads
// "file:line: field: message".
type Error = diag.Error

// Errors is every problem found in one input; it is what the parsers
// return as their error.
type Errors = diag.Errors

// Limits on what a spec may ask for. They keep arithmetic far from overflow
// and catch typos (nodes: 80000000) before a scheduler sees them.
const (
	MaxInputBytes   = 4 << 20 // a spec file or script
	MaxScriptBytes  = 1 << 20
	MaxNodes        = 100_000
	MaxPerNode      = 1024
	MaxCPUsPerAccel = 4096
	MaxMemMiB       = 64 << 20 // 64 TiB per accelerator
	maxNameLen      = 256

	// MaxCommandArgs bounds the entries of command.
	MaxCommandArgs = 4096
	// MaxArgBytes bounds one entry of command: Linux refuses a longer
	// argument (MAX_ARG_STRLEN, 128 KiB with its NUL) with E2BIG.
	MaxArgBytes = 128<<10 - 1
	// MaxEnvEntries bounds the variables of env; MaxEnvValueBytes one value.
	MaxEnvEntries    = 1024
	MaxEnvValueBytes = 32 << 10
	// MaxListEntries bounds residency and datasets.
	MaxListEntries = 256
	// maxJSONValues bounds the values (scalars, lists, maps) of one JSON
	// spec before it is decoded: every legitimate spec fits (the limits
	// above add up to about 6,700), and a body of a million tiny values is
	// refused before it costs a million nodes of memory.
	maxJSONValues = 8192
)

// QoSNames lists the access modes a spec may ask for, in order of scale.
var QoSNames = []string{core.QoSPlayground, core.QoSNormal, core.QoSFastLane, core.QoSLargeScale, core.QoSMoonshot}

// fields are the keys of a job spec, as in core.JobSpec's JSON tags, plus
// the alias "gpus" for accelerators.
var fields = []string{
	"name", "project", "command", "script", "accelerators", "gpus", "model", "nodes",
	"accelerators_per_node", "walltime", "priority_class", "qos", "preemptible",
	"checkpointable", "env", "workdir", "residency", "model_tag", "partition", "output",
	"error", "site", "cpus_per_accelerator", "mem_mib_per_accelerator", "topology", "datasets",
	"site_qos", "nodes_max", "ntasks", "ntasks_per_node", "cpus_per_task", "mem_mib_per_node", "mem_all",
	"mem_mib_per_cpu", "accelerators_per_task", "exclusive", "constraint", "array", "dependency", "signal",
	"requeue", "hint", "mail_type", "mail_user", "export", "begin", "deadline", "comment", "reservation", "submit_dir",
	"lineage",
}

// Parse reads a job spec in YAML or JSON (JSON is YAML) from data; filename
// only labels the errors. A command given as one string runs under
// "sh -c"; residency "EU" expands to the member states. On failure the
// error is Errors holding every problem found.
func Parse(filename string, data []byte) (core.JobSpec, error) {
	l := &diag.List{File: filename}
	if len(data) > MaxInputBytes {
		l.Add(0, "", "file too large: %d bytes, at most %d", len(data), MaxInputBytes)
		return core.JobSpec{}, l.Errs
	}
	var root *yaml.Node
	var err error
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		// Valid JSON takes the JSON path: YAML lacks some of JSON's string
		// escapes ("\/"), and the lines are kept either way.
		root, err = jsonNode(data, true)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		var ye *yaml.TypeError
		if errors.As(err, &ye) {
			for _, m := range ye.Errors {
				l.Add(0, "", "%s", m)
			}
		} else {
			line, msg := yamlLine(err)
			l.Add(line, "", "%s", msg)
		}
		return core.JobSpec{}, l.Errs
	}
	return finish(l, root)
}

// ParseJSON reads a job spec from a JSON body, as the API receives it. The
// errors name field paths ("env.FOO", "residency[2]") with Line 0.
func ParseJSON(data []byte) (core.JobSpec, error) {
	l := &diag.List{}
	if len(data) > MaxInputBytes {
		l.Add(0, "", "body too large: %d bytes, at most %d", len(data), MaxInputBytes)
		return core.JobSpec{}, l.Errs
	}
	root, err := jsonNode(data, false)
	var le *limitError
	if errors.As(err, &le) {
		l.Add(0, le.field, "%s", le.msg)
		return core.JobSpec{}, l.Errs
	}
	if err != nil {
		l.Add(0, "", "invalid JSON: %v", err)
		return core.JobSpec{}, l.Errs
	}
	return finish(l, root)
}

// finish decodes the fields of root, normalises and validates the result,
// and places validation problems on the lines of their fields.
func finish(l *diag.List, root *yaml.Node) (core.JobSpec, error) {
	lines := map[string]int{}
	s := decode(l, root, lines)
	failed := failedFields(l.Errs)
	normalize(&s)
	for _, e := range Validate(s) {
		if failed[e.Field] || failed[rootField(e.Field)] || e.Field == "command" && (failed["script"] || failed[""]) {
			continue // already reported by the decoder
		}
		e.File = l.File
		e.Line = lineOf(lines, e.Field)
		l.Errs = append(l.Errs, e)
	}
	if len(l.Errs) > 0 {
		l.Errs.Sort()
		return core.JobSpec{}, l.Errs
	}
	return s, nil
}

// parseYAML reads exactly one YAML document. The recover turns a panic deep
// in the YAML library on hostile input into an error.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: cannot parse input: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty file: want a mapping of fields")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("yaml: line %d: more than one document; give one job per file", extra.Line)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty file: want a mapping of fields")
	}
	return doc.Content[0], nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlLine moves the line number of a yaml.v3 syntax error into Error.Line.
func yamlLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, "invalid YAML: " + m[2]
	}
	return 0, strings.Replace(msg, "yaml: ", "invalid YAML: ", 1)
}

// failedFields lists the fields the decoder refused, so that Validate's
// checks of their zero values are not reported as well. A refused element
// (command[1]) counts for its whole field, except in env, whose entries are
// independent of one another.
func failedFields(errs Errors) map[string]bool {
	failed := map[string]bool{}
	for _, e := range errs {
		failed[e.Field] = true
		if r := rootField(e.Field); r != "env" {
			failed[r] = true
		}
		if e.Field == "gpus" {
			failed["accelerators"] = true
		}
	}
	return failed
}

// decode reads the fields of a spec, recording the line of each field (and
// list element, and env entry) in lines.
func decode(l *diag.List, root *yaml.Node, lines map[string]int) core.JobSpec {
	var s core.JobSpec
	root = diag.Resolve(root)
	if root == nil || root.Kind != yaml.MappingNode {
		l.Add(diag.Line(root), "", "want a mapping of fields, got %s", diag.Describe(root))
		return s
	}
	seenAccel := ""
	for _, p := range diag.Fields(l, root, "", fields) {
		lines[p.Key] = p.KeyN.Line
		v := p.Value
		switch p.Key {
		case "name":
			s.Name, _ = diag.String(l, p.Key, v)
		case "project":
			s.Project, _ = diag.String(l, p.Key, v)
		case "command":
			s.Command = decodeCommand(l, v, lines)
		case "script":
			s.Script, _ = diag.String(l, p.Key, v)
		case "accelerators", "gpus":
			if seenAccel != "" {
				l.Add(p.KeyN.Line, p.Key, "give accelerators or gpus, not both")
				break
			}
			seenAccel = p.Key
			s.Accelerators, _ = decodeMilli(l, p.Key, v)
			lines["accelerators"] = p.KeyN.Line

		case "model":
			s.Model, _ = diag.String(l, p.Key, v)
		case "nodes":
			s.Nodes = decodeCount(l, p.Key, v, MaxNodes)
		case "accelerators_per_node":
			s.PerNode = decodeCount(l, p.Key, v, MaxPerNode)
		case "walltime":
			s.Walltime = decodeWalltime(l, v)
		case "priority_class":
			s.PriorityClass, _ = diag.String(l, p.Key, v)
		case "qos":
			s.QoS, _ = diag.String(l, p.Key, v)
		case "preemptible":
			s.Preemptible, _ = diag.Bool(l, p.Key, v)
		case "checkpointable":
			s.Checkpointable, _ = diag.Bool(l, p.Key, v)
		case "env":
			s.Env, _ = diag.StringMap(l, p.Key, v, lines)
		case "workdir":
			s.WorkDir, _ = diag.String(l, p.Key, v)
		case "residency":
			s.Residency, _ = diag.Strings(l, p.Key, v, true)
			if n := diag.Resolve(v); n != nil && n.Kind == yaml.SequenceNode {
				for i, c := range n.Content {
					lines[fmt.Sprintf("residency[%d]", i)] = c.Line
				}
			}
		case "model_tag":
			s.ModelTag, _ = diag.String(l, p.Key, v)
		case "datasets":
			s.Datasets, _ = diag.Strings(l, p.Key, v, false)
		case "topology":
			s.Topology, _ = diag.String(l, p.Key, v)
		case "partition":
			s.Partition, _ = diag.String(l, p.Key, v)
		case "output":
			s.Output, _ = diag.String(l, p.Key, v)
		case "error":
			s.Error, _ = diag.String(l, p.Key, v)
		case "site":
			s.Site, _ = diag.String(l, p.Key, v)
		case "cpus_per_accelerator":
			s.CPUsPerAccel = decodeCount(l, p.Key, v, MaxCPUsPerAccel)
		case "mem_mib_per_accelerator":
			s.MemMiBPerAccel = decodeCount(l, p.Key, v, MaxMemMiB)
		case "site_qos":
			s.SiteQoS, _ = diag.String(l, p.Key, v)
		case "nodes_max":
			s.NodesMax = decodeCount(l, p.Key, v, MaxNodes)
		case "ntasks":
			s.Tasks = decodeCount(l, p.Key, v, MaxTasks)
		case "ntasks_per_node":
			s.TasksPerNode = decodeCount(l, p.Key, v, MaxTasksPerNode)
		case "cpus_per_task":
			s.CPUsPerTask = decodeCount(l, p.Key, v, MaxCPUsPerTask)
		case "mem_mib_per_node":
			s.MemMiBPerNode = decodeCount(l, p.Key, v, MaxMemMiB)
		case "mem_all":
			s.MemAll, _ = diag.Bool(l, p.Key, v)
		case "mem_mib_per_cpu":
			s.MemMiBPerCPU = decodeCount(l, p.Key, v, MaxMemMiB)
		case "accelerators_per_task":
			s.AccelPerTask = decodeCount(l, p.Key, v, MaxPerNode)
		case "exclusive":
			s.Exclusive, _ = diag.Bool(l, p.Key, v)
		case "constraint":
			s.Constraint, _ = diag.String(l, p.Key, v)
		case "array":
			s.Array = decodeSlurm(l, p.Key, v, ParseArray)
		case "dependency":
			s.Dependency = decodeSlurm(l, p.Key, v, ParseDependency)
		case "signal":
			s.Signal = decodeSlurm(l, p.Key, v, ParseSignal)
		case "requeue":
			if b, ok := diag.Bool(l, p.Key, v); ok && !diag.IsNull(diag.Resolve(v)) {
				s.Requeue = &b
			}
		case "hint":
			s.Hint, _ = diag.String(l, p.Key, v)
		case "mail_type":
			s.MailType, _ = diag.String(l, p.Key, v)
		case "mail_user":
			s.MailUser, _ = diag.String(l, p.Key, v)
		case "export":
			s.Export, _ = diag.String(l, p.Key, v)
		case "begin":
			s.Begin, _ = diag.String(l, p.Key, v)
		case "deadline":
			s.Deadline, _ = diag.String(l, p.Key, v)
		case "comment":
			s.Comment, _ = diag.String(l, p.Key, v)
		case "reservation":
			s.Reservation, _ = diag.String(l, p.Key, v)
		case "submit_dir":
			s.SubmitDir, _ = diag.String(l, p.Key, v)
		case "lineage":
			s.Lineage = decodeSlurm(l, p.Key, v, parseLineage)
		}
	}
	return s
}

// decodeSlurm reads array, dependency or signal: either sbatch's text
// ("0-9%4", "afterok:12", "B:USR1@300"), read by parse, or the object the
// spec encodes to in JSON, read strictly (unknown keys are errors). Validate
// checks the result either way.
func decodeSlurm[T any](l *diag.List, field string, v *yaml.Node, parse func(string) (*T, error)) *T {
	n := diag.Resolve(v)
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		t, err := parse(n.Value)
		if err != nil {
			l.Add(n.Line, field, "%v", err)
			return nil
		}
		return t
	}
	if n.Kind != yaml.MappingNode {
		l.Add(diag.Line(n), field, "want sbatch's text or an object, got %s", diag.Describe(n))
		return nil
	}
	var generic any
	if err := n.Decode(&generic); err != nil {
		l.Add(n.Line, field, "%v", err)
		return nil
	}
	b, err := json.Marshal(generic)
	if err != nil {
		l.Add(n.Line, field, "cannot read the object: %v", err)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	t := new(T)
	if err := dec.Decode(t); err != nil {
		l.Add(n.Line, field, "%s", strings.TrimPrefix(err.Error(), "json: "))
		return nil
	}
	return t
}

// decodeCommand accepts a list of strings, or one string run by "sh -c".
func decodeCommand(l *diag.List, v *yaml.Node, lines map[string]int) []string {
	n := diag.Resolve(v)
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if n.Value == "" {
			return nil
		}
		return []string{"sh", "-c", n.Value}
	}
	if n != nil && n.Kind == yaml.SequenceNode {
		for i, c := range n.Content {
			lines[fmt.Sprintf("command[%d]", i)] = c.Line
		}
	}
	cmd, ok := diag.Strings(l, "command", v, false)
	if !ok {
		return nil
	}
	return cmd
}

var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]*)?$`)

// decodeMilli reads a decimal number of accelerators.
func decodeMilli(l *diag.List, field string, v *yaml.Node) (core.Milli, bool) {
	n := diag.Resolve(v)
	if diag.IsNull(n) {
		return 0, true
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		l.Add(diag.Line(n), field, "want a number, got %s", diag.Describe(n))
		return 0, false
	}
	if plainDecimal.MatchString(n.Value) {
		m, err := core.ParseMilli(n.Value)
		if err != nil {
			l.Add(n.Line, field, "%v", err)
			return 0, false
		}
		return m, true
	}
	// Other YAML number forms: 1e3, 0x10, .5, 1_000.
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		l.Add(n.Line, field, "want a finite number, got %s", diag.Describe(n))
		return 0, false
	}
	if f < 0 {
		l.Add(n.Line, field, "must not be negative, got %s", n.Value)
		return 0, false
	}
	if f > 10_000_000 {
		l.Add(n.Line, field, "too many accelerators: %s", n.Value)
		return 0, false
	}
	m := math.Round(f * 1000)
	if math.Abs(m-f*1000) > 1e-6 {
		l.Add(n.Line, field, "at most three decimals (thousandths of an accelerator), got %s", n.Value)
		return 0, false
	}
	return core.Milli(m), true
}

// decodeCount reads a whole number in [0, max].
func decodeCount(l *diag.List, field string, v *yaml.Node, max int) int {
	n, ok := diag.Int(l, field, v)
	if !ok {
		return 0
	}
	if n < 0 {
		l.Add(diag.Line(diag.Resolve(v)), field, "must not be negative, got %d", n)
		return 0
	}
	if n > int64(max) {
		l.Add(diag.Line(diag.Resolve(v)), field, "must be at most %d, got %d", max, n)
		return 0
	}
	return int(n)
}

// decodeWalltime reads duration text, a Slurm time or a number of seconds.
func decodeWalltime(l *diag.List, v *yaml.Node) core.Duration {
	n := diag.Resolve(v)
	if diag.IsNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		d, err := ParseWalltime(n.Value)
		if err != nil {
			l.Add(n.Line, "walltime", "%v", err)
			return 0
		}
		return core.Duration(d)
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		var secs float64
		if err := n.Decode(&secs); err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			l.Add(n.Line, "walltime", "want a finite number of seconds, got %s", diag.Describe(n))
			return 0
		}
		if secs < 0 {
			l.Add(n.Line, "walltime", "must not be negative, got %s", n.Value)
			return 0
		}
		if secs > MaxWalltime.Seconds() {
			l.Add(n.Line, "walltime", "must be at most 365 days, got %s seconds", n.Value)
			return 0
		}
		return core.Duration(time.Duration(math.Round(secs)) * time.Second)
	}
	l.Add(diag.Line(n), "walltime", "want a duration like \"1h30m\" or \"2:00:00\", or seconds, got %s", diag.Describe(n))
	return 0
}

// normalize puts a decoded spec in canonical form: residency upper-cased
// with "EU" expanded and duplicates dropped, and whichever of accelerators,
// nodes and accelerators_per_node follows from the other two filled in.
func normalize(s *core.JobSpec) {
	if len(s.Residency) > 0 {
		var out []string
		add := func(c string) {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		for _, r := range s.Residency {
			c, _ := NormalizeCountry(r)
			if c == "EU" {
				for _, m := range EU27 {
					add(m)
				}
				continue
			}
			add(c)
		}
		s.Residency = out
	}
	// An empty list or map is the same as none, and encodes as none.
	if len(s.Env) == 0 {
		s.Env = nil
	}
	if len(s.Residency) == 0 {
		s.Residency = nil
	}
	if len(s.Command) == 0 {
		s.Command = nil
	}
	if s.Dependency != nil {
		for i := range s.Dependency.Conditions {
			if len(s.Dependency.Conditions[i].Jobs) == 0 {
				s.Dependency.Conditions[i].Jobs = nil
			}
		}
	}
	if s.AccelPerTask > 0 && s.Accelerators == 0 && s.Tasks <= MaxTasks && s.TasksPerNode <= MaxTasksPerNode && s.AccelPerTask <= MaxPerNode {
		// --gpus-per-task: per node with --ntasks-per-node, in all with
		// --ntasks (one task when neither is given, as sbatch assumes).
		switch {
		case s.TasksPerNode > 0 && s.PerNode == 0:
			s.PerNode = s.TasksPerNode * s.AccelPerTask
			if s.Nodes == 0 && s.Tasks == 0 {
				s.Nodes = 1
			}
			if s.Tasks > 0 && s.Nodes == 0 && s.Tasks%s.TasksPerNode == 0 {
				s.Nodes = s.Tasks / s.TasksPerNode
			}
		case s.Tasks > 0:
			s.Accelerators = core.Milli(min(s.Tasks*s.AccelPerTask, 10_000_001)) * 1000
		case s.PerNode == 0:
			s.Accelerators = core.Milli(s.AccelPerTask) * 1000
		}
	}
	whole := s.Accelerators > 0 && s.Accelerators%1000 == 0
	n := int(s.Accelerators / 1000)
	switch {
	case s.Accelerators == 0 && s.Nodes > 0 && s.PerNode > 0:
		s.Accelerators = core.Milli(s.Nodes*s.PerNode) * 1000
	case whole && s.Nodes > 0 && s.PerNode == 0 && n%s.Nodes == 0:
		s.PerNode = n / s.Nodes
	case whole && s.PerNode > 0 && s.Nodes == 0 && n%s.PerNode == 0:
		s.Nodes = n / s.PerNode
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks a spec built by any means (a Go literal, another decoder)
// and returns every problem, each naming its field; Line is 0. The parsers
// call it after decoding, so their results always validate.
func Validate(s core.JobSpec) Errors {
	l := &diag.List{}
	text := func(field, v string) {
		if len(v) > maxNameLen {
			l.Add(0, field, "at most %d bytes, got %d", maxNameLen, len(v))
		}
		if !utf8.ValidString(v) {
			l.Add(0, field, "not valid UTF-8")
			return
		}
		if strings.ContainsFunc(v, unicode.IsControl) {
			l.Add(0, field, "must not contain control characters, got %q", v)
		}
	}
	text("name", s.Name)
	text("project", s.Project)
	text("model", s.Model)
	text("priority_class", s.PriorityClass)
	text("workdir", s.WorkDir)
	text("submit_dir", s.SubmitDir)
	text("model_tag", s.ModelTag)
	text("partition", s.Partition)
	text("output", s.Output)
	text("error", s.Error)
	text("site", s.Site)
	for i, d := range s.Datasets {
		text(fmt.Sprintf("datasets[%d]", i), d)
		if d == "" {
			l.Add(0, fmt.Sprintf("datasets[%d]", i), "must not be empty")
		}
	}
	switch s.Topology {
	case "", "block", "pod", "any":
	default:
		l.Add(0, "topology", "want block, pod or any; got %q", s.Topology)
	}

	switch {
	case len(s.Command) == 0 && s.Script == "":
		l.Add(0, "command", "give a command or a script")
	case len(s.Command) > 0 && s.Script != "":
		l.Add(0, "script", "give a command or a script, not both")
	}
	if len(s.Command) > MaxCommandArgs {
		l.Add(0, "command", "at most %d entries, got %d", MaxCommandArgs, len(s.Command))
	} else {
		for i, a := range s.Command {
			f := fmt.Sprintf("command[%d]", i)
			switch {
			case i == 0 && a == "":
				l.Add(0, f, "the program must not be empty")
			case len(a) > MaxArgBytes:
				l.Add(0, f, "at most %d bytes, got %d", MaxArgBytes, len(a))
			default:
				program(l, f, a)
			}
		}
	}
	if len(s.Script) > MaxScriptBytes {
		l.Add(0, "script", "at most %d bytes, got %d", MaxScriptBytes, len(s.Script))
	} else {
		program(l, "script", s.Script)
	}

	validateCounts(l, s)

	switch {
	case s.Walltime < 0:
		l.Add(0, "walltime", "must not be negative, got %s", time.Duration(s.Walltime))
	case time.Duration(s.Walltime) > MaxWalltime:
		l.Add(0, "walltime", "must be at most 365 days, got %s", time.Duration(s.Walltime))
	}
	if s.QoS != "" && !slices.Contains(QoSNames, s.QoS) {
		msg := fmt.Sprintf("unknown qos %q; want one of %s", s.QoS, strings.Join(QoSNames, ", "))
		if d := diag.Suggest(s.QoS, QoSNames); d != "" {
			msg = fmt.Sprintf("unknown qos %q; did you mean %q? (want one of %s)", s.QoS, d, strings.Join(QoSNames, ", "))
		}
		l.Add(0, "qos", "%s", msg)
	}
	if len(s.Env) > MaxEnvEntries {
		l.Add(0, "env", "at most %d variables, got %d", MaxEnvEntries, len(s.Env))
	} else {
		for _, k := range sortedKeys(s.Env) {
			f := "env." + k
			if len(k) > maxNameLen {
				l.Add(0, "env", "variable names are at most %d bytes, got one of %d", maxNameLen, len(k))
				continue
			}
			if !envName.MatchString(k) {
				l.Add(0, f, "not a valid variable name (want letters, digits and _, not starting with a digit)")
			}
			if v := s.Env[k]; len(v) > MaxEnvValueBytes {
				l.Add(0, f, "at most %d bytes, got %d", MaxEnvValueBytes, len(v))
			} else {
				program(l, f, v)
			}
		}
	}
	if n := len(s.Residency); n > MaxListEntries {
		l.Add(0, "residency", "at most %d entries, got %d", MaxListEntries, n)
	}
	if n := len(s.Datasets); n > MaxListEntries {
		l.Add(0, "datasets", "at most %d entries, got %d", MaxListEntries, n)
	}
	for i, r := range s.Residency {
		if r == "EU" {
			continue
		}
		if !ValidCountry(r) {
			l.Add(0, fmt.Sprintf("residency[%d]", i), "%q is not an ISO 3166-1 alpha-2 country code (or \"EU\" for the member states)", r)
		}
	}
	if s.CPUsPerAccel < 0 || s.CPUsPerAccel > MaxCPUsPerAccel {
		l.Add(0, "cpus_per_accelerator", "must be between 0 and %d, got %d", MaxCPUsPerAccel, s.CPUsPerAccel)
	}
	if s.MemMiBPerAccel < 0 || s.MemMiBPerAccel > MaxMemMiB {
		l.Add(0, "mem_mib_per_accelerator", "must be between 0 and %d, got %d", MaxMemMiB, s.MemMiBPerAccel)
	}
	validateBatch(l, s)
	validateLineage(l, s.Lineage)
	return l.Errs
}

// program checks text that a job runs or passes on (a command's argument,
// a script, an environment value): valid UTF-8 without control characters
// but tab and newline, so that no NUL truncates it and no escape sequence
// reaches a terminal that shows it.
func program(l *diag.List, field, v string) {
	if !utf8.ValidString(v) {
		l.Add(0, field, "not valid UTF-8")
		return
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return r != '\t' && r != '\n' && unicode.IsControl(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		if r == 0 {
			l.Add(0, field, "must not contain NUL bytes")
			return
		}
		l.Add(0, field, "must not contain control characters (only tab and newline), found %U at byte %d", r, i)
	}
}

// validateCounts checks accelerators, nodes and accelerators_per_node, alone
// and together.
func validateCounts(l *diag.List, s core.JobSpec) {
	a := s.Accelerators
	switch {
	case a < 0:
		l.Add(0, "accelerators", "must not be negative, got %s", milli(a))
		return
	case a > 10_000_000*1000:
		l.Add(0, "accelerators", "too many accelerators: %s", milli(a))
		return
	case a > 1000 && a%1000 != 0:
		l.Add(0, "accelerators", "fractions of an accelerator only below one, got %s", milli(a))
		return
	}
	badN := s.Nodes < 0 || s.Nodes > MaxNodes
	badP := s.PerNode < 0 || s.PerNode > MaxPerNode
	if badN {
		l.Add(0, "nodes", "must be between 0 and %d, got %d", MaxNodes, s.Nodes)
	}
	if badP {
		l.Add(0, "accelerators_per_node", "must be between 0 and %d, got %d", MaxPerNode, s.PerNode)
	}
	if badN || badP {
		return
	}
	n := int(a / 1000)
	frac := a%1000 != 0
	switch {
	case s.Nodes > 0 && s.PerNode > 0:
		if frac || n != s.Nodes*s.PerNode {
			l.Add(0, "accelerators", "%s does not equal nodes × accelerators_per_node (%d × %d = %d)", milli(a), s.Nodes, s.PerNode, s.Nodes*s.PerNode)
		}
	case s.Nodes > 0 && a > 0:
		if frac && s.Nodes > 1 {
			l.Add(0, "accelerators", "a fraction of an accelerator (%s) cannot be spread over %d nodes", milli(a), s.Nodes)
		} else if !frac && n%s.Nodes != 0 {
			l.Add(0, "accelerators", "%d is not divisible by nodes (%d)", n, s.Nodes)
		}
	case s.PerNode > 0 && a > 0:
		if frac || n%s.PerNode != 0 {
			l.Add(0, "accelerators", "%s is not a multiple of accelerators_per_node (%d)", milli(a), s.PerNode)
		}
	case s.PerNode > 0:
		l.Add(0, "accelerators_per_node", "%d given without accelerators or nodes", s.PerNode)
	}
}

// milli formats m like core.Milli.String, negative amounts included.
func milli(m core.Milli) string {
	if m < 0 {
		return "-" + (-m).String()
	}
	return m.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// rootField returns the top-level field of a path: "env" for "env.FOO",
// "residency" for "residency[2]".
func rootField(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

// lineOf finds the line of a field path, falling back to its top-level field.
func lineOf(lines map[string]int, path string) int {
	if n, ok := lines[path]; ok {
		return n
	}
	return lines[rootField(path)]
}

// jsonNode converts a JSON document into a yaml.Node tree so that JSON
// goes through the same field decoders as YAML. Key order is kept, so
// duplicate keys are seen and refused. With lines, each node records the
// line its value starts on; without, lines are 0 (a request body).
func jsonNode(data []byte, lines bool) (*yaml.Node, error) {
	return jsonNodeFrom(data, lines, json.Valid(data))
}

// jsonNodeFrom is jsonNode reading valid JSON with a jsonLexer (fast) and
// anything else with a json.Decoder (its errors).
func jsonNodeFrom(data []byte, lines, fast bool) (*yaml.Node, error) {
	var src tokenSource
	if fast {
		src = &jsonLexer{data: data}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		src = dec
	}
	j := &jsonReader{dec: src, data: data, lines: lines, line: 1}
	n, err := j.value(0, "")
	if err != nil {
		return nil, err
	}
	if _, err := src.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the top-level value")
	}
	return n, nil
}

// childPath names the value under key k of the map at path.
func childPath(path, k string) string {
	if len(k) > 64 {
		k = k[:64] + "..."
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonReader walks a JSON token stream, counting lines as it goes.
type jsonReader struct {
	dec   tokenSource
	data  []byte
	lines bool
	pos   int // bytes of data already counted
	line  int // line at pos
	count int // values read so far, bounded by maxJSONValues
}

// limitError is a JSON spec refused for its size before decoding; field is
// the path of the list or map that passed a limit ("" for the whole).
type limitError struct{ field, msg string }

func (e *limitError) Error() string { return e.field + ": " + e.msg }

// listLimit is how many entries the list or map at path may hold before
// the decoder gives up: the field's own limit where it has one, else the
// largest, so that a nested list cannot slip past.
func listLimit(path string) int {
	switch path {
	case "env":
		return MaxEnvEntries
	case "residency", "datasets":
		return MaxListEntries
	}
	return MaxCommandArgs
}

// next returns the next token and the line it starts on.
func (j *jsonReader) next() (json.Token, int, error) {
	line := 0
	if j.lines {
		// The token starts after the separators that follow the previous
		// token's end.
		end := int(j.dec.InputOffset())
		for end < len(j.data) && strings.IndexByte(" \t\r\n,:", j.data[end]) >= 0 {
			end++
		}
		for ; j.pos < end; j.pos++ {
			if j.data[j.pos] == '\n' {
				j.line++
			}
		}
		line = j.line
	}
	tok, err := j.dec.Token()
	return tok, line, err
}

func (j *jsonReader) value(depth int, path string) (*yaml.Node, error) {
	if depth > 64 {
		return nil, errors.New("nested too deeply")
	}
	if j.count++; j.count > maxJSONValues {
		return nil, &limitError{field: path, msg: fmt.Sprintf("too many values: a spec holds at most %d", maxJSONValues)}
	}
	tok, line, err := j.next()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty body")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
			for j.dec.More() {
				kt, kline, err := j.next()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is not a string")
				}
				if len(n.Content)/2 >= max(listLimit(path), 64) {
					return nil, &limitError{field: path, msg: fmt.Sprintf("at most %d entries", listLimit(path))}
				}
				v, err := j.value(depth+1, childPath(path, k))
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: kline}, v)
			}
			_, _, err := j.next() // '}'
			return n, err
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: line}
			for j.dec.More() {
				if len(n.Content) >= listLimit(path) {
					return nil, &limitError{field: path, msg: fmt.Sprintf("at most %d entries", listLimit(path))}
				}
				v, err := j.value(depth+1, fmt.Sprintf("%s[%d]", path, len(n.Content)))
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			_, _, err := j.next() // ']'
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t, Line: line}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t), Line: line}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t), Line: line}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
