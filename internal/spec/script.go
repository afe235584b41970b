package spec

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// ParseScript reads a batch script. Its #SBATCH directives, up to the first
// line that is neither blank nor a comment (where sbatch stops reading
// them), give the spec; #GF directives give Gigafactory's own extras
// (--residency, --preemptible, --checkpointable, --model-tag, ...). The
// whole script becomes spec.Script.
//
// The directives of real Slurm scripts (--ntasks, --cpus-per-task, --mem,
// --exclusive, --array, --dependency, --signal, ...) are read into the
// spec's fields with their meaning. A directive Gigafactory does not know
// is an error naming its line, never dropped: "job.sh:4: #SBATCH
// --mem-bind: not supported by Gigafactory". The choices made for the user
// (the minimum of --nodes 2-4, a site's QoS name kept as site_qos) and what
// is kept but not acted on (--hint, --mail-*) come back as warnings, each
// starting with "file:line: ".
func ParseScript(filename string, data []byte) (core.JobSpec, []string, error) {
	p := &scriptParser{l: &diag.List{File: filename}, lines: map[string]int{}, file: filename}
	if len(data) > MaxScriptBytes {
		p.l.Add(0, "script", "at most %d bytes, got %d", MaxScriptBytes, len(data))
		return core.JobSpec{}, nil, p.l.Errs
	}
	if !utf8.Valid(data) {
		p.l.Add(0, "script", "not valid UTF-8")
		return core.JobSpec{}, nil, p.l.Errs
	}
	p.s.Script = string(data)
	p.s.Name = path.Base(strings.ReplaceAll(filename, "\\", "/"))
	if filename == "" {
		p.s.Name = ""
	}
	p.scan(string(data))
	p.resolveGPUs()
	normalize(&p.s)
	for _, e := range Validate(p.s) {
		if p.failed[rootField(e.Field)] {
			continue
		}
		e.File = filename
		e.Line = lineOf(p.lines, e.Field)
		p.l.Errs = append(p.l.Errs, e)
	}
	if len(p.l.Errs) > 0 {
		p.l.Errs.Sort()
		return core.JobSpec{}, p.warnings, p.l.Errs
	}
	return p.s, p.warnings, nil
}

// scriptParser holds the state of one ParseScript call.
type scriptParser struct {
	file     string
	prefix   string // of the directive being applied: #SBATCH or #GF
	l        *diag.List
	s        core.JobSpec
	lines    map[string]int  // spec field -> directive line, for validation errors
	failed   map[string]bool // spec fields whose directive was refused
	warnings []string

	// GPU requests are combined once all directives are read.
	total, perNode    int    // --gpus; --gres / --gpus-per-node
	totalL, perNodeL  int    // their lines
	perTask, perTaskL int    // --gpus-per-task
	memL              int    // the line of the first memory option
	memOpt            string // which option that was
	perNodeOpt        string // which option set perNode
	gpuType           string
	gpuTypeL          int
}

func (p *scriptParser) warn(line int, format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf("%s:%d: ", p.file, line)+fmt.Sprintf(format, args...))
}

func (p *scriptParser) fail(line int, field, format string, args ...any) {
	p.l.Add(line, field, format, args...)
	if p.failed == nil {
		p.failed = map[string]bool{}
	}
	p.failed[field] = true
}

// scan walks the directive block at the top of the script.
func (p *scriptParser) scan(text string) {
	inBlock := true
	for i, raw := range strings.Split(text, "\n") {
		line := i + 1
		t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		prefix := ""
		switch {
		case strings.HasPrefix(t, "#SBATCH") && (len(t) == 7 || t[7] == ' ' || t[7] == '\t'):
			prefix = "#SBATCH"
		case strings.HasPrefix(t, "#GF") && (len(t) == 3 || t[3] == ' ' || t[3] == '\t'):
			prefix = "#GF"
		}
		if t == "" || (strings.HasPrefix(t, "#") && prefix == "") {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			inBlock = false
			continue
		}
		if !inBlock {
			p.warn(line, "%s after the first command is ignored, as sbatch does; move it to the top", prefix)
			continue
		}
		words, err := splitWords(t[len(prefix):])
		if err != nil {
			p.fail(line, prefix, "%v", err)
			continue
		}
		p.directive(line, prefix, words)
	}
}

// An option is one directive Gigafactory understands.
type option struct {
	long, short string
	value       bool // takes a value
	gf          bool // #GF only
	apply       func(p *scriptParser, line int, name, v string)
}

// options lists every directive accepted. Anything else is an error.
var options = []option{
	{long: "job-name", short: "J", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("name", line, &p.s.Name, v) }},
	{long: "account", short: "A", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("project", line, &p.s.Project, v) }},
	{long: "partition", short: "p", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("partition", line, &p.s.Partition, v) }},
	{long: "output", short: "o", value: true, apply: func(p *scriptParser, line int, name, v string) { p.output(line, name, "output", &p.s.Output, v) }},
	{long: "error", short: "e", value: true, apply: func(p *scriptParser, line int, name, v string) { p.output(line, name, "error", &p.s.Error, v) }},
	{long: "qos", short: "q", value: true, apply: (*scriptParser).qos},
	{long: "chdir", short: "D", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("workdir", line, &p.s.WorkDir, v) }},
	{long: "time", short: "t", value: true, apply: (*scriptParser).time},
	{long: "nodes", short: "N", value: true, apply: (*scriptParser).nodes},
	{long: "gres", value: true, apply: (*scriptParser).gres},
	{long: "gpus", short: "G", value: true, apply: (*scriptParser).gpus},
	{long: "gpus-per-node", value: true, apply: (*scriptParser).gpus},
	{long: "gpus-per-task", value: true, apply: (*scriptParser).gpus},
	{long: "cpus-per-gpu", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.count(line, name, "cpus_per_accelerator", &p.s.CPUsPerAccel, v, MaxCPUsPerAccel)
	}},
	{long: "mem-per-gpu", value: true, apply: (*scriptParser).memPerGPU},
	{long: "ntasks", short: "n", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.positiveCount(line, name, "ntasks", &p.s.Tasks, v, MaxTasks)
	}},
	{long: "ntasks-per-node", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.positiveCount(line, name, "ntasks_per_node", &p.s.TasksPerNode, v, MaxTasksPerNode)
	}},
	{long: "cpus-per-task", short: "c", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.positiveCount(line, name, "cpus_per_task", &p.s.CPUsPerTask, v, MaxCPUsPerTask)
	}},
	{long: "mem", value: true, apply: (*scriptParser).mem},
	{long: "mem-per-cpu", value: true, apply: (*scriptParser).mem},
	{long: "exclusive", apply: func(p *scriptParser, line int, name, v string) {
		p.lines["exclusive"] = line
		if v != "" {
			p.fail(line, name, "only whole-node --exclusive is supported, got --exclusive=%s", v)
			return
		}
		p.s.Exclusive = true
	}},
	{long: "constraint", short: "C", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("constraint", line, &p.s.Constraint, v) }},
	{long: "array", short: "a", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.lines["array"] = line
		a, err := ParseArray(v)
		if err != nil {
			p.fail(line, name, "%v", err)
			return
		}
		p.s.Array = a
	}},
	{long: "dependency", short: "d", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.lines["dependency"] = line
		d, err := ParseDependency(v)
		if err != nil {
			p.fail(line, name, "%v", err)
			return
		}
		p.s.Dependency = d
	}},
	{long: "signal", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.lines["signal"] = line
		sig, err := ParseSignal(v)
		if err != nil {
			p.fail(line, name, "%v", err)
			return
		}
		p.s.Signal = sig
	}},
	{long: "requeue", apply: (*scriptParser).requeue},
	{long: "no-requeue", apply: (*scriptParser).requeue},
	{long: "hint", value: true, apply: func(p *scriptParser, line int, name, v string) {
		if p.checked(line, name, "hint", &p.s.Hint, v, checkHint) {
			p.warn(line, "--hint=%s is kept but not applied: the site's CPU binding decides", v)
		}
	}},
	{long: "export", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.checked(line, name, "export", &p.s.Export, v, checkExport)
	}},
	{long: "begin", short: "b", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.checked(line, name, "begin", &p.s.Begin, v, checkDate)
	}},
	{long: "deadline", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.checked(line, name, "deadline", &p.s.Deadline, v, checkDate)
	}},
	{long: "comment", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("comment", line, &p.s.Comment, v) }},
	{long: "reservation", value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("reservation", line, &p.s.Reservation, v) }},
	{long: "mail-type", value: true, apply: func(p *scriptParser, line int, name, v string) {
		if p.checked(line, name, "mail_type", &p.s.MailType, v, checkMailType) {
			p.warn(line, "--%s is kept but no mail is sent: Gigafactory has no mailer", name)
		}
	}},
	{long: "mail-user", value: true, apply: func(p *scriptParser, line int, name, v string) {
		p.set("mail_user", line, &p.s.MailUser, v)
		p.warn(line, "--%s is kept but no mail is sent: Gigafactory has no mailer", name)
	}},
	// Gigafactory's own extras, #GF only.
	{long: "residency", gf: true, value: true, apply: (*scriptParser).residency},
	{long: "preemptible", gf: true, apply: func(p *scriptParser, line int, name, v string) { p.flag(line, name, &p.s.Preemptible, v) }},
	{long: "checkpointable", gf: true, apply: func(p *scriptParser, line int, name, v string) { p.flag(line, name, &p.s.Checkpointable, v) }},
	{long: "model-tag", gf: true, value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("model_tag", line, &p.s.ModelTag, v) }},
	{long: "model", gf: true, value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("model", line, &p.s.Model, v) }},
	{long: "priority-class", gf: true, value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("priority_class", line, &p.s.PriorityClass, v) }},
	{long: "site", gf: true, value: true, apply: func(p *scriptParser, line int, _, v string) { p.set("site", line, &p.s.Site, v) }},
	{long: "env", gf: true, value: true, apply: (*scriptParser).env},
	{long: "lineage", gf: true, value: true, apply: func(p *scriptParser, line int, _, v string) {
		g, err := parseLineage(v)
		if err != nil {
			p.fail(line, "lineage", "%v", err)
			return
		}
		p.s.Lineage = g
	}},
}

// gfAlso lists the #SBATCH options that #GF lines accept too.
var gfAlso = map[string]bool{"qos": true, "time": true, "job-name": true, "account": true}

func lookup(prefix, name string, short bool) *option {
	for i := range options {
		o := &options[i]
		if short && o.short != name || !short && o.long != name {
			continue
		}
		if prefix == "#GF" && !o.gf && !gfAlso[o.long] || prefix == "#SBATCH" && o.gf {
			return nil
		}
		return o
	}
	return nil
}

// directive applies the options of one directive line.
func (p *scriptParser) directive(line int, prefix string, words []string) {
	if len(words) == 0 {
		p.warn(line, "%s with no option", prefix)
		return
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var name, value string
		var hasValue, short bool
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2:
			name, value, hasValue = strings.Cut(w[2:], "=")
		case strings.HasPrefix(w, "-") && len(w) > 1 && w[1] != '-':
			name, short = w[1:2], true
			if len(w) > 2 {
				value, hasValue = strings.TrimPrefix(w[2:], "="), true
			}
		default:
			p.fail(line, prefix, "unexpected argument %q; directives are options such as --time=1:00:00", w)
			return
		}
		o := lookup(prefix, name, short)
		shown := "--" + name
		if short {
			shown = "-" + name
		}
		if o == nil {
			p.fail(line, prefix+" "+shown, "not supported by Gigafactory")
			return // the rest of the line may be this option's value
		}
		if o.value && !hasValue {
			if i+1 >= len(words) {
				p.fail(line, o.long, "needs a value")
				return
			}
			i++
			value = words[i]
		}
		if !o.value && hasValue && short {
			p.fail(line, o.long, "takes no value")
			return
		}
		p.prefix = prefix
		o.apply(p, line, o.long, value)
	}
}

// set records a string field.
func (p *scriptParser) set(field string, line int, dst *string, v string) {
	*dst = v
	p.lines[field] = line
}

func (p *scriptParser) flag(line int, name string, dst *bool, v string) {
	field := strings.ReplaceAll(name, "-", "_")
	p.lines[field] = line
	if v == "" {
		*dst = true
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(line, name, "want true or false, got %q", v)
		return
	}
	*dst = b
}

func (p *scriptParser) count(line int, name, field string, dst *int, v string, max int) {
	p.lines[field] = line
	n, ok := number(v)
	if !ok || n > int64(max) {
		p.fail(line, name, "want a whole number from 0 to %d, got %q", max, v)
		return
	}
	*dst = int(n)
}

func (p *scriptParser) time(line int, name, v string) {
	p.lines["walltime"] = line
	if l := strings.ToLower(v); l == "unlimited" || l == "infinite" {
		p.warn(line, "--time=%s: Gigafactory needs a limit to plan with; the site's default walltime applies", v)
		return
	}
	d, err := ParseSlurmTime(v)
	if err != nil {
		p.fail(line, name, "%v", err)
		return
	}
	p.s.Walltime = core.Duration(d)
}

func (p *scriptParser) nodes(line int, name, v string) {
	p.lines["nodes"] = line
	lo, hi, isRange := strings.Cut(v, "-")
	n, ok := number(lo)
	if !ok || n < 1 || n > MaxNodes {
		p.fail(line, name, "want a node count from 1 to %d or a range min-max, got %q", MaxNodes, v)
		return
	}
	if isRange {
		m, ok := number(hi)
		if !ok || m < n {
			p.fail(line, name, "want a range min-max with min <= max, got %q", v)
			return
		}
		if m > MaxNodes {
			p.fail(line, name, "want at most %d nodes, got %q", MaxNodes, v)
			return
		}
		p.warn(line, "--nodes=%s: Gigafactory does not resize jobs; asking for the minimum, %d", v, n)
		if m > n {
			p.s.NodesMax = int(m)
		}
	}
	p.s.Nodes = int(n)
}

// gres reads --gres=gpu[:type]:N (N per node; "gpu" alone is one).
func (p *scriptParser) gres(line int, name, v string) {
	for _, g := range strings.Split(v, ",") {
		parts := strings.Split(g, ":")
		if parts[0] != "gpu" {
			p.fail(line, name, "only gpu resources are supported, got %q", g)
			continue
		}
		typ, cnt := "", "1"
		switch len(parts) {
		case 1:
		case 2:
			cnt = parts[1]
		case 3:
			typ, cnt = parts[1], parts[2]
		default:
			p.fail(line, name, "want gpu[:type]:count, got %q", g)
			continue
		}
		n, ok := positive(cnt)
		if !ok {
			p.fail(line, name, "the gpu count must be a positive whole number, got %q", cnt)
			continue
		}
		p.setType(line, name, typ)
		p.setPerNode(line, name, n)
	}
}

// gpus reads --gpus / --gpus-per-node [type:]N.
func (p *scriptParser) gpus(line int, name, v string) {
	typ, cnt, hasType := strings.Cut(v, ":")
	if !hasType {
		typ, cnt = "", v
	}
	n, ok := positive(cnt)
	if !ok {
		p.fail(line, name, "the gpu count must be a positive whole number, got %q", cnt)
		return
	}
	p.setType(line, name, typ)
	if name == "gpus-per-task" {
		if p.perTask != 0 && p.perTask != n {
			p.fail(line, name, "given twice with different counts (%d at line %d)", p.perTask, p.perTaskL)
			return
		}
		p.perTask, p.perTaskL = n, line
		p.s.AccelPerTask = n
		p.lines["accelerators_per_task"] = line
		return
	}
	if name == "gpus" {
		if p.total != 0 && p.total != n {
			p.fail(line, name, "given twice with different counts (%d at line %d)", p.total, p.totalL)
			return
		}
		p.total, p.totalL = n, line
		return
	}
	p.setPerNode(line, name, n)
}

func (p *scriptParser) setType(line int, name, typ string) {
	if typ == "" {
		return
	}
	if p.gpuType != "" && p.gpuType != typ {
		p.fail(line, name, "gpu type %q conflicts with %q at line %d", typ, p.gpuType, p.gpuTypeL)
		return
	}
	p.gpuType, p.gpuTypeL = typ, line
	p.s.Model = typ
	p.lines["model"] = line
}

func (p *scriptParser) setPerNode(line int, name string, n int) {
	if p.perNode != 0 && p.perNode != n {
		p.fail(line, name, "%d gpus per node conflicts with %d from --%s at line %d", n, p.perNode, p.perNodeOpt, p.perNodeL)
		return
	}
	p.perNode, p.perNodeL, p.perNodeOpt = n, line, name
}

// resolveGPUs turns the per-node and total GPU requests into the spec's
// accelerators, nodes and accelerators_per_node.
func (p *scriptParser) resolveGPUs() {
	switch {
	case p.perNode > 0 && p.total > 0:
		// normalize derives the node count when none was given; Validate
		// checks that the counts agree.
		p.s.PerNode, p.s.Accelerators = p.perNode, core.Milli(p.total)*1000
		p.lines["accelerators_per_node"], p.lines["accelerators"] = p.perNodeL, p.totalL
	case p.perNode > 0:
		if p.s.Nodes == 0 {
			p.s.Nodes = 1 // sbatch's default
		}
		p.s.PerNode, p.s.Accelerators = p.perNode, core.Milli(p.s.Nodes*p.perNode)*1000
		p.lines["accelerators_per_node"], p.lines["accelerators"] = p.perNodeL, p.perNodeL
	case p.total > 0:
		p.s.Accelerators = core.Milli(p.total) * 1000
		p.lines["accelerators"] = p.totalL
	case p.perTask > 0:
		// normalize derives accelerators (and per node) from the tasks.
		p.lines["accelerators"], p.lines["accelerators_per_node"] = p.perTaskL, p.perTaskL
	}
}

func (p *scriptParser) memPerGPU(line int, name, v string) {
	if !p.memOption(line, name) {
		return
	}
	p.lines["mem_mib_per_accelerator"] = line
	mib, err := parseMem(v)
	if err != nil {
		p.fail(line, name, "%v", err)
		return
	}
	p.s.MemMiBPerAccel = mib
}

// parseMem reads a Slurm memory size: a number with an optional K, M, G or T
// suffix, megabytes by default.
func parseMem(v string) (int, error) {
	s := strings.ToUpper(v)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult, s = -1024, s[:len(s)-1]
		case 'M':
			s = s[:len(s)-1]
		case 'G':
			mult, s = 1024, s[:len(s)-1]
		case 'T':
			mult, s = 1024*1024, s[:len(s)-1]
		}
	}
	n, ok := number(s)
	if !ok {
		return 0, fmt.Errorf("want a size such as 64G or 16000M, got %q", v)
	}
	if mult < 0 {
		n = (n + 1023) / 1024
	} else {
		n *= mult
	}
	if n > MaxMemMiB {
		return 0, fmt.Errorf("must be at most %d MiB, got %q", MaxMemMiB, v)
	}
	return int(n), nil
}

func (p *scriptParser) residency(line int, name, v string) {
	p.lines["residency"] = line
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		p.s.Residency = append(p.s.Residency, c)
	}
}

func (p *scriptParser) env(line int, name, v string) {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		p.fail(line, name, "want NAME=value, got %q", v)
		return
	}
	if p.s.Env == nil {
		p.s.Env = map[string]string{}
	}
	p.s.Env[k] = val
	p.lines["env."+k] = line
}

// positive parses a whole number of at least one.
func positive(s string) (int, bool) {
	n, ok := number(s)
	if !ok || n < 1 || n > 10_000_000 {
		return 0, false
	}
	return int(n), true
}

// splitWords splits a directive line into words as a shell would, with
// single and double quotes and backslash escapes; an unquoted "#" starts a
// comment.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(runes) {
				i++
				cur.WriteRune(runes[i])
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(runes):
			i++
			cur.WriteRune(runes[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// positiveCount records a whole number from 1 to max.
func (p *scriptParser) positiveCount(line int, name, field string, dst *int, v string, max int) {
	p.lines[field] = line
	n, ok := number(v)
	if !ok || n < 1 || n > int64(max) {
		p.fail(line, name, "want a whole number from 1 to %d, got %q", max, v)
		return
	}
	*dst = int(n)
}

// checked records a string field after check accepts it, and says whether
// it did.
func (p *scriptParser) checked(line int, name, field string, dst *string, v string, check func(string) error) bool {
	p.lines[field] = line
	if err := check(v); err != nil {
		p.fail(line, name, "%v", err)
		return false
	}
	*dst = v
	return true
}

func checkDate(v string) error {
	_, err := ParseSlurmDate(v, dateCheckTime)
	return err
}

// output records --output or --error, whose % patterns sbatch expands.
func (p *scriptParser) output(line int, name, field string, dst *string, v string) {
	p.set(field, line, dst, v)
	if err := checkOutputPattern(v); err != nil {
		p.warn(line, "--%s: %v; it is kept as written", name, err)
	}
}

// qos keeps a Gigafactory QoS as qos and, from #SBATCH, any other name (a
// site's "boost_qos_dbg") as site_qos, with a warning; #GF lines take only
// Gigafactory's names.
func (p *scriptParser) qos(line int, name, v string) {
	if p.prefix == "#GF" || slices.Contains(QoSNames, v) {
		p.set("qos", line, &p.s.QoS, v)
		return
	}
	p.set("site_qos", line, &p.s.SiteQoS, v)
	p.warn(line, "--qos=%s is not a Gigafactory QoS (%s): kept as site_qos for the site's QoS table; the default QoS applies until it maps", v, strings.Join(QoSNames, ", "))
}

// mem reads --mem (per node; 0 is all of each node's memory) and
// --mem-per-cpu; sbatch takes one memory option of --mem, --mem-per-cpu and
// --mem-per-gpu.
func (p *scriptParser) mem(line int, name, v string) {
	if !p.memOption(line, name) {
		return
	}
	field := "mem_mib_per_node"
	if name == "mem-per-cpu" {
		field = "mem_mib_per_cpu"
	}
	p.lines[field] = line
	mib, err := parseMem(v)
	if err != nil {
		p.fail(line, name, "%v", err)
		return
	}
	switch {
	case name == "mem" && mib == 0:
		p.s.MemAll = true
		p.lines["mem_all"] = line
	case mib == 0:
		p.fail(line, name, "want a positive size such as 2G, got %q", v)
	case name == "mem":
		p.s.MemMiBPerNode = mib
	default:
		p.s.MemMiBPerCPU = mib
	}
}

// memOption checks that no other memory option came before this one.
func (p *scriptParser) memOption(line int, name string) bool {
	if p.memOpt != "" && p.memOpt != name {
		p.fail(line, name, "--%s and --%s (line %d) exclude each other, as in sbatch: give one", name, p.memOpt, p.memL)
		return false
	}
	p.memOpt, p.memL = name, line
	return true
}

// requeue reads --requeue and --no-requeue.
func (p *scriptParser) requeue(line int, name, v string) {
	p.lines["requeue"] = line
	if v != "" {
		p.fail(line, name, "takes no value")
		return
	}
	b := name == "requeue"
	p.s.Requeue = &b
}
