package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// Limits on the sbatch-style fields of a spec.
const (
	// MaxArrayTasks bounds the tasks of one job array, as Slurm's
	// MaxArraySize bounds them on a cluster.
	MaxArrayTasks = 10_000
	// MaxArrayIndex bounds an array index (Slurm's largest MaxArraySize
	// is 4000001).
	MaxArrayIndex = 4_000_000
	// MaxTasks bounds ntasks; MaxTasksPerNode ntasks_per_node;
	// MaxCPUsPerTask cpus_per_task.
	MaxTasks        = 10_000_000
	MaxTasksPerNode = 4096
	MaxCPUsPerTask  = 4096
	// MaxSignalSeconds bounds --signal's @SECS, as Slurm does.
	MaxSignalSeconds = 65535
	// maxDependencyJobs bounds the jobs a dependency names.
	maxDependencyJobs = MaxListEntries
	// maxLongText bounds comment, constraint and export.
	maxLongText = 4096
)

// ParseArray reads sbatch's --array value: indices and ranges separated by
// commas ("0-9", "1,3,5", "0-99:2"), then an optional "%N", the most tasks
// that run at once.
func ParseArray(s string) (*core.JobArray, error) {
	a := &core.JobArray{}
	spec := s
	if i := strings.IndexByte(s, '%'); i >= 0 {
		spec = s[:i]
		n, ok := number(s[i+1:])
		if !ok || n < 1 || n > MaxArrayTasks {
			return nil, fmt.Errorf("the throttle after %% must be a whole number from 1 to %d, got %q", MaxArrayTasks, s[i+1:])
		}
		a.Throttle = int(n)
	}
	if spec == "" {
		return nil, fmt.Errorf("want indices such as 0-9, 1,3,5 or 0-99:2 (then %%N to run at most N at once), got %q", s)
	}
	total := 0
	for _, part := range strings.Split(spec, ",") {
		r, err := arrayRange(part)
		if err != nil {
			return nil, err
		}
		a.Ranges = append(a.Ranges, r)
		total += (r.Last-r.First)/max(r.Step, 1) + 1
		if total > MaxArrayTasks {
			return nil, fmt.Errorf("at most %d tasks in one array, got more in %q", MaxArrayTasks, s)
		}
	}
	return a, nil
}

// arrayRange reads "N", "A-B" or "A-B:S".
func arrayRange(part string) (core.ArrayRange, error) {
	bad := func(why string) (core.ArrayRange, error) {
		return core.ArrayRange{}, fmt.Errorf("%q: %s", part, why)
	}
	rng, step, hasStep := strings.Cut(part, ":")
	lo, hi, isRange := strings.Cut(rng, "-")
	first, ok := number(lo)
	if !ok {
		return bad("want an index, a range A-B or A-B:step")
	}
	last := first
	if isRange {
		if last, ok = number(hi); !ok {
			return bad("want an index, a range A-B or A-B:step")
		}
	}
	if first > MaxArrayIndex || last > MaxArrayIndex {
		return bad(fmt.Sprintf("indices go up to %d", MaxArrayIndex))
	}
	if last < first {
		return bad("the range ends before it starts")
	}
	r := core.ArrayRange{First: int(first), Last: int(last)}
	if hasStep {
		n, ok := number(step)
		if !ok || n < 1 || !isRange {
			return bad("a step needs a range and must be a positive whole number (A-B:S)")
		}
		if n > 1 {
			r.Step = int(n)
		}
	}
	return r, nil
}

// checkArray validates an array however it was built.
func checkArray(a *core.JobArray) error {
	if len(a.Ranges) == 0 {
		return fmt.Errorf("an array needs at least one range")
	}
	if a.Throttle < 0 || a.Throttle > MaxArrayTasks {
		return fmt.Errorf("throttle must be between 0 and %d, got %d", MaxArrayTasks, a.Throttle)
	}
	total := 0
	for i, r := range a.Ranges {
		switch {
		case r.First < 0 || r.Last > MaxArrayIndex:
			return fmt.Errorf("ranges[%d]: indices go from 0 to %d, got %d-%d", i, MaxArrayIndex, r.First, r.Last)
		case r.Last < r.First:
			return fmt.Errorf("ranges[%d]: last (%d) is before first (%d)", i, r.Last, r.First)
		case r.Step < 0 || r.Step == 1:
			return fmt.Errorf("ranges[%d]: step must be 0 (one) or at least 2, got %d", i, r.Step)
		}
		if total += (r.Last-r.First)/max(r.Step, 1) + 1; total > MaxArrayTasks {
			return fmt.Errorf("at most %d tasks in one array", MaxArrayTasks)
		}
	}
	return nil
}

var dependencyKinds = []string{core.DependAfterOK, core.DependAfterAny, core.DependAfterNotOK, core.DependAfter, core.DependSingleton}

var depJobID = regexp.MustCompile(`^[1-9][0-9]{0,17}(_[0-9]{1,7})?$`)

// ParseDependency reads sbatch's --dependency value: conditions such as
// "afterok:12:13" joined by "," (all must hold) or by "?" (one suffices),
// "after:12+5" (five minutes after job 12 started) and "singleton".
func ParseDependency(s string) (*core.Dependency, error) {
	d := &core.Dependency{}
	sep := ","
	if strings.Contains(s, "?") {
		if strings.Contains(s, ",") {
			return nil, fmt.Errorf("join conditions with \",\" (all) or \"?\" (any), not both: %q", s)
		}
		d.Any, sep = true, "?"
	}
	jobs := 0
	for _, part := range strings.Split(s, sep) {
		items := strings.Split(part, ":")
		c := core.DependencyCondition{Type: strings.ToLower(items[0])}
		if !slices.Contains(dependencyKinds, c.Type) {
			return nil, fmt.Errorf("%q: want a condition of %s (e.g. afterok:1234)", part, strings.Join(dependencyKinds, ", "))
		}
		for _, it := range items[1:] {
			id, plus, hasPlus := strings.Cut(it, "+")
			j := core.DependencyJob{ID: id}
			if hasPlus {
				m, ok := number(plus)
				if c.Type != core.DependAfter || !ok || m > 365*24*60 {
					return nil, fmt.Errorf("%q: only after:JOB+MINUTES takes a delay, in whole minutes", part)
				}
				j.Minutes = int(m)
			}
			c.Jobs = append(c.Jobs, j)
		}
		if jobs += len(c.Jobs); jobs > maxDependencyJobs {
			return nil, fmt.Errorf("at most %d jobs in one dependency", maxDependencyJobs)
		}
		d.Conditions = append(d.Conditions, c)
	}
	if err := checkDependency(d); err != nil {
		return nil, err
	}
	return d, nil
}

// checkDependency validates a dependency however it was built.
func checkDependency(d *core.Dependency) error {
	if len(d.Conditions) == 0 {
		return fmt.Errorf("a dependency needs at least one condition")
	}
	jobs := 0
	for i, c := range d.Conditions {
		if !slices.Contains(dependencyKinds, c.Type) {
			return fmt.Errorf("conditions[%d]: unknown type %q; want one of %s", i, c.Type, strings.Join(dependencyKinds, ", "))
		}
		if c.Type == core.DependSingleton && len(c.Jobs) > 0 {
			return fmt.Errorf("conditions[%d]: singleton names no jobs", i)
		}
		if c.Type != core.DependSingleton && len(c.Jobs) == 0 {
			return fmt.Errorf("conditions[%d]: %s needs at least one job id (%s:1234)", i, c.Type, c.Type)
		}
		for _, j := range c.Jobs {
			if !depJobID.MatchString(j.ID) {
				return fmt.Errorf("conditions[%d]: %q is not a job id (1234, or 1234_7 for an array task)", i, j.ID)
			}
			if j.Minutes < 0 || j.Minutes > 365*24*60 || j.Minutes > 0 && c.Type != core.DependAfter {
				return fmt.Errorf("conditions[%d]: minutes only with after, from 0 to %d, got %d", i, 365*24*60, j.Minutes)
			}
		}
		if jobs += len(c.Jobs); jobs > maxDependencyJobs {
			return fmt.Errorf("at most %d jobs in one dependency", maxDependencyJobs)
		}
	}
	return nil
}

// signalNumbers names the signals a job may ask for by number (Linux).
var signalNumbers = map[int]string{
	1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 10: "USR1", 12: "USR2", 14: "ALRM",
	15: "TERM", 18: "CONT", 19: "STOP", 20: "TSTP", 23: "URG", 24: "XCPU", 26: "VTALRM", 27: "PROF", 28: "WINCH",
}

// ParseSignal reads sbatch's --signal value, [B:]SIG[@SECS]: SIG by name
// (USR1, SIGUSR1) or number, SECS (default 60) before the walltime ends; B
// signals the batch shell only.
func ParseSignal(s string) (*core.JobSignal, error) {
	sig := &core.JobSignal{Seconds: 60}
	rest := s
	if flags, r, ok := strings.Cut(s, ":"); ok {
		switch strings.ToUpper(flags) {
		case "B":
			sig.BatchOnly = true
		case "R", "RB", "BR":
			return nil, fmt.Errorf("%q: the R flag (signal on reservation end) is not supported; use [B:]SIG@SECS", s)
		default:
			return nil, fmt.Errorf("%q: want [B:]SIG[@SECS], such as B:USR1@300", s)
		}
		rest = r
	}
	name, secs, hasSecs := strings.Cut(rest, "@")
	if hasSecs {
		n, ok := number(secs)
		if !ok || n > MaxSignalSeconds {
			return nil, fmt.Errorf("%q: the seconds after @ must be a whole number from 0 to %d", s, MaxSignalSeconds)
		}
		sig.Seconds = int(n)
	}
	if n, ok := number(name); ok {
		sig.Name = signalNumbers[int(n)]
	} else {
		sig.Name = strings.TrimPrefix(strings.ToUpper(name), "SIG")
	}
	if err := checkSignal(sig); err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	return sig, nil
}

// checkSignal validates a signal however it was built.
func checkSignal(s *core.JobSignal) error {
	known := false
	for _, n := range signalNumbers {
		known = known || n == s.Name
	}
	if !known {
		return fmt.Errorf("unknown signal %q; want a name such as USR1, USR2, TERM or INT", s.Name)
	}
	if s.Seconds < 0 || s.Seconds > MaxSignalSeconds {
		return fmt.Errorf("seconds must be between 0 and %d, got %d", MaxSignalSeconds, s.Seconds)
	}
	return nil
}

// mailTypes are the values --mail-type takes.
var mailTypes = []string{"NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
	"TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS"}

func checkMailType(v string) error {
	for _, t := range strings.Split(v, ",") {
		if !slices.Contains(mailTypes, strings.ToUpper(t)) {
			return fmt.Errorf("unknown mail type %q; want a comma-separated list of %s", t, strings.Join(mailTypes, ", "))
		}
	}
	return nil
}

var hints = []string{"compute_bound", "memory_bound", "multithread", "nomultithread"}

func checkHint(v string) error {
	for _, h := range strings.Split(v, ",") {
		if !slices.Contains(hints, strings.ToLower(h)) {
			return fmt.Errorf("unknown hint %q; want %s", h, strings.Join(hints, ", "))
		}
	}
	return nil
}

// checkExport validates --export: ALL, NONE or NIL first if at all, then
// variable names, each with an optional =value.
func checkExport(v string) error {
	if v == "" {
		return fmt.Errorf("want ALL, NONE or a list of variables such as ALL,OMP_NUM_THREADS=8")
	}
	for i, e := range strings.Split(v, ",") {
		if i == 0 && slices.Contains([]string{"ALL", "NONE", "NIL"}, strings.ToUpper(e)) {
			continue
		}
		name, _, _ := strings.Cut(e, "=")
		if !envName.MatchString(name) {
			return fmt.Errorf("%q is not NAME or NAME=value (ALL or NONE only first)", e)
		}
	}
	return nil
}

// outputPatterns are the % escapes sbatch expands in --output and --error.
const outputPatterns = "%AaJjNnstux"

// checkOutputPattern reports an escape sbatch does not know, such as "%q".
func checkOutputPattern(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++ // a width: %4a
		}
		if j >= len(v) {
			return fmt.Errorf("%q ends with a lone %%; write %%%% for a percent sign", v)
		}
		if !strings.ContainsRune(outputPatterns, rune(v[j])) {
			return fmt.Errorf("unknown pattern %%%c in %q; want one of %%A %%a %%J %%j %%N %%n %%s %%t %%u %%x or %%%%", v[j], v)
		}
		i = j
	}
	return nil
}

var (
	relTime  = regexp.MustCompile(`^now(\+([0-9]{1,9})(seconds|second|minutes|minute|hours|hour|days|day|weeks|week|s|m|h|d|w)?)?$`)
	isoTime  = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})-([0-9]{2})(t([0-9]{2}):([0-9]{2})(:([0-9]{2}))?)?$`) // the forms isoDate reads; its test's oracle
	clock    = regexp.MustCompile(`^([0-9]{1,2}):([0-9]{2})(:([0-9]{2}))?(am|pm)?$`)
	slashDay = regexp.MustCompile(`^([0-9]{1,2})/([0-9]{1,2})(/([0-9]{2}))?$`)
)

// ParseSlurmDate resolves sbatch's --begin and --deadline forms against now
// (in now's location): "now+1hour" (units s, m, h, d, w or their names;
// a bare number is seconds), "YYYY-MM-DD[THH:MM[:SS]]", "HH:MM[:SS]" with
// an optional am/pm (the next such time), "MM/DD[/YY]", and the words
// today, tomorrow, midnight, noon, fika (15:00) and teatime (16:00).
func ParseSlurmDate(s string, now time.Time) (time.Time, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	loc := now.Location()
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc) }
	at := func(h int) time.Time {
		t := day(now).Add(time.Duration(h) * time.Hour)
		if !t.After(now) {
			t = t.AddDate(0, 0, 1)
		}
		return t
	}
	switch v {
	case "today":
		return day(now), nil
	case "tomorrow":
		return day(now).AddDate(0, 0, 1), nil
	case "midnight":
		return at(0), nil
	case "noon":
		return at(12), nil
	case "fika":
		return at(15), nil
	case "teatime":
		return at(16), nil
	}
	var m []string
	if strings.HasPrefix(v, "now") { // relTime's own start: most dates are not relative
		m = relTime.FindStringSubmatch(v)
	}
	if m != nil {
		if m[1] == "" {
			return now, nil
		}
		n, _ := strconv.Atoi(m[2])
		unit := map[string]time.Duration{"": time.Second, "s": time.Second, "second": time.Second, "seconds": time.Second,
			"m": time.Minute, "minute": time.Minute, "minutes": time.Minute, "h": time.Hour, "hour": time.Hour, "hours": time.Hour,
			"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour, "w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour}[m[3]]
		if time.Duration(n)*unit > MaxWalltime {
			return time.Time{}, fmt.Errorf("%q is more than a year away", s)
		}
		return now.Add(time.Duration(n) * unit), nil
	}
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	valid := func(y, mo, d, h, mi, sec int) (time.Time, error) {
		t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, loc)
		if mo < 1 || mo > 12 || d < 1 || t.Month() != time.Month(mo) || h > 23 || mi > 59 || sec > 59 {
			return time.Time{}, fmt.Errorf("%q is not a valid date and time", s)
		}
		return t, nil
	}
	if y, mo, d, h, mi, sec, ok := isoDate(v); ok {
		return valid(y, mo, d, h, mi, sec) // isoTime's forms, without the regexp (every job of a batch may have one)
	}
	if m := clock.FindStringSubmatch(v); m != nil {
		h := atoi(m[1])
		if m[5] != "" {
			if h < 1 || h > 12 {
				return time.Time{}, fmt.Errorf("%q: hours go from 1 to 12 with am/pm", s)
			}
			h %= 12
			if m[5] == "pm" {
				h += 12
			}
		}
		t, err := valid(now.Year(), int(now.Month()), now.Day(), h, atoi(m[2]), atoi(m[4]))
		if err == nil && !t.After(now) {
			t = t.AddDate(0, 0, 1)
		}
		return t, err
	}
	if m := slashDay.FindStringSubmatch(v); m != nil {
		y := now.Year()
		if m[4] != "" {
			y = 2000 + atoi(m[4])
		}
		t, err := valid(y, atoi(m[1]), atoi(m[2]), 0, 0, 0)
		if err == nil && m[4] == "" && t.Before(day(now)) {
			t = t.AddDate(1, 0, 0)
		}
		return t, err
	}
	return time.Time{}, fmt.Errorf("want a time such as now+1hour, 16:00, 2026-12-24T18:00 or tomorrow, got %q", s)
}

// isoDate reads exactly what isoTime matches, YYYY-MM-DD[tHH:MM[:SS]]
// (lower case: ParseSlurmDate lowers its input), as numbers; the regexp
// and its submatches cost more than the rest of a spec's checks.
// TestISODateMatchesRegexp holds it to isoTime.
func isoDate(v string) (y, mo, d, h, mi, sec int, ok bool) {
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := v[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	switch len(v) {
	case 10, 16, 19:
	default:
		return 0, 0, 0, 0, 0, 0, false
	}
	if v[4] != '-' || v[7] != '-' {
		return 0, 0, 0, 0, 0, 0, false
	}
	var okY, okMo, okD bool
	y, okY = num(0, 4)
	mo, okMo = num(5, 7)
	d, okD = num(8, 10)
	if !okY || !okMo || !okD {
		return 0, 0, 0, 0, 0, 0, false
	}
	if len(v) == 10 {
		return y, mo, d, 0, 0, 0, true
	}
	if v[10] != 't' || v[13] != ':' {
		return 0, 0, 0, 0, 0, 0, false
	}
	var okH, okMi bool
	h, okH = num(11, 13)
	mi, okMi = num(14, 16)
	if !okH || !okMi {
		return 0, 0, 0, 0, 0, 0, false
	}
	if len(v) == 16 {
		return y, mo, d, h, mi, 0, true
	}
	if v[16] != ':' {
		return 0, 0, 0, 0, 0, 0, false
	}
	var okS bool
	if sec, okS = num(17, 19); !okS {
		return 0, 0, 0, 0, 0, 0, false
	}
	return y, mo, d, h, mi, sec, true
}

// dateCheckTime is the moment against which Validate checks the syntax of
// begin and deadline; any fixed time does.
var dateCheckTime = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// validateBatch checks the sbatch-style fields of a spec: their bounds,
// the syntax of what is kept as text, and how they fit together.
func validateBatch(l *diag.List, s core.JobSpec) {
	short := func(field, v string, limit int) {
		if len(v) > limit {
			l.Add(0, field, "at most %d bytes, got %d", limit, len(v))
			return
		}
		if !utf8.ValidString(v) {
			l.Add(0, field, "not valid UTF-8")
			return
		}
		if strings.ContainsFunc(v, unicode.IsControl) {
			l.Add(0, field, "must not contain control characters, got %q", v)
		}
	}
	short("site_qos", s.SiteQoS, maxNameLen)
	short("constraint", s.Constraint, maxLongText)
	short("hint", s.Hint, maxNameLen)
	short("mail_type", s.MailType, maxNameLen)
	short("mail_user", s.MailUser, maxNameLen)
	short("export", s.Export, maxLongText)
	short("begin", s.Begin, maxNameLen)
	short("deadline", s.Deadline, maxNameLen)
	short("comment", s.Comment, maxLongText)
	short("reservation", s.Reservation, maxNameLen)
	if s.SiteQoS != "" && s.QoS != "" {
		l.Add(0, "site_qos", "give qos or site_qos, not both")
	}
	checks := []struct {
		field string
		v     string
		check func(string) error
	}{
		{"hint", s.Hint, checkHint}, {"mail_type", s.MailType, checkMailType}, {"export", s.Export, checkExport},
		{"begin", s.Begin, checkDate}, {"deadline", s.Deadline, checkDate},
	}
	for _, c := range checks {
		if c.v == "" || len(c.v) > maxLongText {
			continue
		}
		if err := c.check(c.v); err != nil {
			l.Add(0, c.field, "%v", err)
		}
	}

	counts := []struct {
		field  string
		v, max int
	}{
		{"nodes_max", s.NodesMax, MaxNodes}, {"ntasks", s.Tasks, MaxTasks}, {"ntasks_per_node", s.TasksPerNode, MaxTasksPerNode},
		{"cpus_per_task", s.CPUsPerTask, MaxCPUsPerTask}, {"mem_mib_per_node", s.MemMiBPerNode, MaxMemMiB},
		{"mem_mib_per_cpu", s.MemMiBPerCPU, MaxMemMiB}, {"accelerators_per_task", s.AccelPerTask, MaxPerNode},
	}
	bad := false
	for _, c := range counts {
		if c.v < 0 || c.v > c.max {
			l.Add(0, c.field, "must be between 0 and %d, got %d", c.max, c.v)
			bad = true
		}
	}
	if bad {
		return
	}
	if s.NodesMax > 0 && s.NodesMax < s.Nodes {
		l.Add(0, "nodes_max", "must be at least nodes (%d), got %d", s.Nodes, s.NodesMax)
	}
	mems := 0
	for _, set := range []bool{s.MemMiBPerNode > 0 || s.MemAll, s.MemMiBPerCPU > 0, s.MemMiBPerAccel > 0} {
		if set {
			mems++
		}
	}
	switch {
	case s.MemAll && s.MemMiBPerNode > 0:
		l.Add(0, "mem_all", "give mem_mib_per_node or mem_all, not both")
	case mems > 1:
		l.Add(0, "mem_mib_per_node", "give one of mem_mib_per_node (or mem_all), mem_mib_per_cpu and mem_mib_per_accelerator, as sbatch takes one of --mem, --mem-per-cpu and --mem-per-gpu")
	}
	if s.AccelPerTask > 0 {
		a := s.Accelerators / 1000
		switch {
		case s.TasksPerNode > 0 && s.PerNode != s.TasksPerNode*s.AccelPerTask:
			l.Add(0, "accelerators_per_task", "%d per task × %d tasks per node is not accelerators_per_node (%d)", s.AccelPerTask, s.TasksPerNode, s.PerNode)
		case s.Tasks > 0 && (s.Accelerators%1000 != 0 || int64(a) != int64(s.Tasks)*int64(s.AccelPerTask)):
			l.Add(0, "accelerators_per_task", "%d per task × %d tasks is not accelerators (%s)", s.AccelPerTask, s.Tasks, milli(s.Accelerators))
		}
	}
	if s.Array != nil {
		if err := checkArray(s.Array); err != nil {
			l.Add(0, "array", "%v", err)
		}
	}
	if s.Dependency != nil {
		if err := checkDependency(s.Dependency); err != nil {
			l.Add(0, "dependency", "%v", err)
		}
	}
	if s.Signal != nil {
		if err := checkSignal(s.Signal); err != nil {
			l.Add(0, "signal", "%v", err)
		}
	}
}
