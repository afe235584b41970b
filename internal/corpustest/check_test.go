package corpustest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// output is one output file a job wrote, as the script printed it.
type output struct {
	path   string
	groups map[byte]string   // what %j, %A, %a, %x, %u, %N stood for in the name
	vars   map[string]string // KEY=VALUE lines
	ranks  int               // "rank I of N" lines
}

// patternRegexp turns an sbatch file name pattern into a regexp that
// captures each escape, so the name can be checked against what the job saw.
func patternRegexp(pattern string) (*regexp.Regexp, []byte) {
	var b strings.Builder
	var order []byte
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteString(regexp.QuoteMeta(string(c)))
			continue
		}
		i++
		for i < len(pattern) && pattern[i] >= '0' && pattern[i] <= '9' {
			i++ // a width, as in %4a
		}
		e := pattern[i]
		switch e {
		case '%':
			b.WriteString("%")
			continue
		case 'j', 'A', 'a':
			b.WriteString(`(\d+)`)
		default:
			b.WriteString(`([^/]+)`)
		}
		order = append(order, e)
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()), order
}

// workDir is where the job should have run: -D (relative to the submit
// directory), else the submit directory.
func (r *run) workDir() string {
	if wd := r.sc.spec.WorkDir; wd != "" {
		if filepath.IsAbs(wd) {
			return wd
		}
		return filepath.Join(r.dir, wd)
	}
	return r.dir
}

// outputs finds the files matching an sbatch pattern, relative to the working directory.
func (r *run) outputs(pattern string) []output {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(r.workDir(), pattern)
	}
	re, order := patternRegexp(pattern)
	var out []output
	_ = filepath.WalkDir(r.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		m := re.FindStringSubmatch(p)
		if m == nil {
			return nil
		}
		o := output{path: p, groups: map[byte]string{}, vars: map[string]string{}}
		for i, e := range order {
			o.groups[e] = m[i+1]
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "rank ") {
				o.ranks++
			} else if k, v, ok := strings.Cut(line, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
				o.vars[k] = v
			}
		}
		out = append(out, o)
		return nil
	})
	return out
}

// tasks is how many tasks the directives ask for (0: unknown).
func tasks(s core.JobSpec) int {
	switch {
	case s.Tasks > 0:
		return s.Tasks
	case s.TasksPerNode > 0 && s.Nodes > 0 && s.NodesMax == 0:
		return s.TasksPerNode * s.Nodes
	}
	return 0
}

// check compares the jobs and their files with what the directives ask.
func (r *run) check() {
	s, w := r.sc.spec, r.sc.want
	state := core.State(w.state)
	if state == "" {
		state = core.StateCompleted
	}
	perSubmission := 1
	if s.Array != nil {
		perSubmission = len(s.Array.Indices())
	}
	if got, want := len(r.jobs), perSubmission*len(r.ids); got != want {
		r.fail("%d jobs or array tasks, want %d", got, want)
	}
	var taskIDs []int
	for _, j := range r.jobs {
		if j.State != state {
			r.fail("job %s ended %s (%s), want %s", j.DisplayID(), j.State, j.Reason, state)
		}
		if j.ArrayTaskID != nil {
			taskIDs = append(taskIDs, *j.ArrayTaskID)
		}
		if a := j.Alloc; a != nil && j.State == core.StateCompleted {
			want := s.Accelerators
			if s.Exclusive || s.Accelerators == 0 && len(a.Nodes) > 1 {
				// --exclusive, and a CPU job over several nodes, hold
				// whole nodes in gf: every accelerator on them too,
				// which no other job may use meanwhile.
				per := map[string]core.Milli{"gpu": 4000, "small": 2000}[a.Pool]
				want = core.Milli(len(a.Nodes)) * per
			}
			if got := a.Accelerators(); got != want {
				r.fail("job %s holds %s accelerators, the directives ask %s", j.DisplayID(), got, want)
			}
			if s.Nodes > 0 && s.NodesMax == 0 && len(a.Nodes) != s.Nodes {
				r.fail("job %s holds %d nodes, the directives ask %d", j.DisplayID(), len(a.Nodes), s.Nodes)
			}
			if s.Model == "a100" && a.Pool != "small" || s.Model == "h100" && a.Pool != "gpu" {
				r.fail("job %s ran in pool %q, which lacks model %s", j.DisplayID(), a.Pool, s.Model)
			}
		}
		if w.beginAfter > 0 && j.StartTime != nil && j.StartTime.Before(r.submitAt.Add(w.beginAfter)) {
			r.fail("job %s started %s after submission, before --begin", j.DisplayID(), j.StartTime.Sub(r.submitAt).Round(time.Millisecond))
		}
	}
	if s.Array != nil && len(r.jobs) > 0 {
		want := s.Array.Indices()
		sort.Ints(taskIDs)
		if !slices.Equal(taskIDs, want) {
			r.fail("array task ids %v, want %v", taskIDs, want)
		}
	}
	// Output files, named and placed as sbatch names them.
	pattern := s.Output
	if pattern == "" {
		pattern = "slurm-%j.out"
		if s.Array != nil {
			pattern = "slurm-%A_%a.out"
		}
	}
	outs := r.outputs(pattern)
	if len(outs) != len(r.jobs) {
		var all []string
		_ = filepath.WalkDir(r.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(r.dir, p)
				all = append(all, rel)
			}
			return nil
		})
		r.fail("%d output files match %q, want %d; the submit directory holds %v", len(outs), pattern, len(r.jobs), all)
	}
	if s.Error != "" {
		if errs := r.outputs(s.Error); len(errs) != len(r.jobs) {
			r.fail("%d error files match %q, want %d", len(errs), s.Error, len(r.jobs))
		}
	}
	wd, _ := filepath.EvalSymlinks(r.workDir())
	submitDir, _ := filepath.EvalSymlinks(r.dir)
	ids := map[string]bool{}
	for _, j := range r.jobs {
		ids[j.ID.String()] = true
	}
	for _, o := range outs {
		name, _ := filepath.Rel(r.dir, o.path)
		v := o.vars
		expect := func(key, want string) {
			if v[key] != want {
				r.fail("%s: %s=%q, want %q", name, key, v[key], want)
			}
		}
		if pwd, _ := filepath.EvalSymlinks(v["PWD"]); pwd != wd {
			r.fail("%s: ran in %q, want %q", name, v["PWD"], wd)
		}
		if d, _ := filepath.EvalSymlinks(v["SLURM_SUBMIT_DIR"]); d != submitDir {
			r.fail("%s: SLURM_SUBMIT_DIR=%q, want %q", name, v["SLURM_SUBMIT_DIR"], submitDir)
		}
		expect("SLURM_JOB_NAME", s.Name)
		if !strings.EqualFold(v["SLURM_JOB_ACCOUNT"], s.Project) && s.Project != "" {
			r.fail("%s: SLURM_JOB_ACCOUNT=%q, want %q", name, v["SLURM_JOB_ACCOUNT"], s.Project)
		}
		if v["SLURM_JOB_ID"] == "" {
			r.fail("%s: no SLURM_JOB_ID", name)
		} else if r.site == "local" && s.Array == nil && !ids[v["SLURM_JOB_ID"]] {
			r.fail("%s: SLURM_JOB_ID=%s is none of gf's ids %v", name, v["SLURM_JOB_ID"], r.ids)
		}
		for e, got := range o.groups {
			key := map[byte]string{'j': "SLURM_JOB_ID", 'A': "SLURM_ARRAY_JOB_ID", 'a': "SLURM_ARRAY_TASK_ID", 'x': "SLURM_JOB_NAME"}[e]
			if key != "" && v[key] != got {
				r.fail("%s: %%%c in the file name is %q, but the job saw %s=%q", name, e, got, key, v[key])
			}
		}
		if n := tasks(s); n > 0 {
			expect("SLURM_NTASKS", strconv.Itoa(n))
			if strings.Contains(r.sc.text, `echo "rank $SLURM_PROCID`) && o.ranks != n {
				r.fail("%s: srun ran %d ranks, want %d", name, o.ranks, n)
			}
		}
		if s.CPUsPerTask > 0 {
			expect("SLURM_CPUS_PER_TASK", strconv.Itoa(s.CPUsPerTask))
		}
		if s.Nodes > 0 && s.NodesMax == 0 {
			expect("SLURM_JOB_NUM_NODES", strconv.Itoa(s.Nodes))
		}
		if s.PerNode > 0 {
			expect("SLURM_GPUS_ON_NODE", strconv.Itoa(s.PerNode))
		}
		if s.Array != nil {
			if v["SLURM_ARRAY_JOB_ID"] == "" || v["SLURM_ARRAY_TASK_ID"] == "" {
				r.fail("%s: SLURM_ARRAY_JOB_ID=%q SLURM_ARRAY_TASK_ID=%q, want both", name, v["SLURM_ARRAY_JOB_ID"], v["SLURM_ARRAY_TASK_ID"])
			}
		}
		for k, want := range w.env {
			expect(k, want)
		}
	}
	for glob, want := range w.files {
		got, _ := filepath.Glob(filepath.Join(r.workDir(), glob))
		if len(got) != want {
			r.fail("%d files %s in the working directory, want %d", len(got), glob, want)
		}
	}
	if w.throttle > 0 {
		if most := overlap(r.jobs); most > w.throttle {
			r.fail("%d array tasks ran at once, the throttle is %d", most, w.throttle)
		}
	}
	if w.twice && len(r.jobs) == 2 && overlap(r.jobs) > 1 {
		r.fail("the two singleton jobs ran at the same time")
	}
}

// overlap is the most jobs that ran at the same time.
func overlap(jobs []core.Job) int {
	type edge struct {
		t     time.Time
		delta int
	}
	var es []edge
	for _, j := range jobs {
		if j.StartTime != nil && j.EndTime != nil {
			es = append(es, edge{*j.StartTime, 1}, edge{*j.EndTime, -1})
		}
	}
	sort.Slice(es, func(a, b int) bool {
		if es[a].t.Equal(es[b].t) {
			return es[a].delta < es[b].delta // an end before a start at the same instant
		}
		return es[a].t.Before(es[b].t)
	})
	n, most := 0, 0
	for _, e := range es {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// checkOrder checks that the jobs ran after those they depend on.
func (r *run) checkOrder(runs map[string]*run) {
	first := func(js []core.Job) *time.Time {
		var t *time.Time
		for _, j := range js {
			if j.StartTime != nil && (t == nil || j.StartTime.Before(*t)) {
				t = j.StartTime
			}
		}
		return t
	}
	start := first(r.jobs)
	if start == nil {
		return
	}
	for _, other := range r.sc.want.afterEnd {
		for _, j := range runs[other].jobs {
			if j.EndTime == nil || j.EndTime.After(*start) {
				r.fail("started at %s, before %s (job %s) ended", start.Format(time.StampMilli), other, j.DisplayID())
			}
		}
	}
	for _, other := range r.sc.want.afterStart {
		if t := first(runs[other].jobs); t == nil || t.After(*start) {
			r.fail("started before %s did", other)
		}
	}
}
