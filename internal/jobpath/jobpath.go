// Package jobpath holds the rules for the files a job names: its working
// directory (JobSpec.WorkDir) and the files its output and error streams go
// to (JobSpec.Output, JobSpec.Error, which may hold Slurm's %j %x %u %%).
//
// Two checks, one set of rules:
//
//   - Validate is lexical and runs at submission, so a bad path is refused
//     with an error naming the field before anything runs.
//   - Dirs resolves the same paths at run time against open directories,
//     refusing every symbolic link on the way (openat2 with RESOLVE_BENEATH
//     and RESOLVE_NO_SYMLINKS where the kernel has it, else a walk of
//     O_NOFOLLOW opens), and OpenOutput and OpenLog refuse what is not a
//     plain file of the job's own. This is the authoritative check: a path
//     that passed Validate can still meet a symlink planted later.
//
// The rules: a relative path is relative to the job's own directory (the
// working directory, for output and error files) and has no ".." element;
// an absolute path lies under one of the site's allowed roots; no NUL byte,
// no path over MaxLen bytes, no file path that names a directory ("out/",
// ".", "/"), and no %x or %u that expands to something other than one file
// name.
package jobpath

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// MaxLen is the longest path accepted, in bytes: Linux's PATH_MAX.
const MaxLen = 4096

// Fields of a JobSpec that hold paths, as the API names them.
const (
	FieldWorkDir = "workdir"
	FieldOutput  = "output"
	FieldError   = "error"
)

// Error is a path refused by the rules. Field is the JobSpec field as the
// API names it ("workdir", "output" or "error"); the API answers it with a
// 422 problem naming that field.
type Error struct {
	Field string
	Msg   string
	// Err is the system call's refusal at run time (ENOENT, ELOOP, EACCES
	// ...), nil for a lexical refusal.
	Err error
}

// Error implements error.
func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns Err, so errors.Is finds the errno.
func (e *Error) Unwrap() error { return e.Err }

// Vars are the values Slurm-style patterns expand to, as sbatch's
// "filename pattern" names them.
type Vars struct {
	JobID       string // %j and %J (a batch script's step has no step id)
	Name        string // %x
	User        string // %u
	ArrayJobID  string // %A: the array's id; for a job that is no array task, the job id
	ArrayTaskID string // %a: the task's index; for a job that is no array task, NoArrayTask
	Node        string // %N: the first node's name
	// Keep lists the letters left as written, for a later expansion by
	// someone who knows their values (the Slurm driver leaves %j %J %u %N
	// to Slurm). With Keep set, %% is kept as well, for that expansion
	// to make it one %.
	Keep string
}

// NoArrayTask is what Slurm writes for %a, and SLURM_ARRAY_TASK_ID would
// hold, for a job that is not part of an array (NO_VAL - 1).
const NoArrayTask = "4294967294"

// Default output patterns, as sbatch's: stdout, and stderr with it, go to
// this file in the job's working directory.
const (
	DefaultOutput      = "slurm-%j.out"
	DefaultArrayOutput = "slurm-%A_%a.out"
)

// DefaultOutputFor is the output pattern of a job that names none:
// DefaultArrayOutput for an array task, else DefaultOutput.
func DefaultOutputFor(job core.Job) string {
	if job.ArrayTaskID != nil {
		return DefaultArrayOutput
	}
	return DefaultOutput
}

// JobVars are the values of job's patterns in Gigafactory's own ids: %j is
// the job's id, %A and %a its array's id and its index (the job id and
// NoArrayTask for a job that is no array task). node is the first node's
// name.
func JobVars(job core.Job, node string) Vars {
	name := job.Name
	if name == "" {
		name = job.Spec.Name
	}
	v := Vars{JobID: job.ID.String(), Name: name, User: job.User, Node: node,
		ArrayJobID: job.ID.String(), ArrayTaskID: NoArrayTask}
	if job.ArrayTaskID != nil {
		v.ArrayJobID, v.ArrayTaskID = job.ArrayJobID.String(), strconv.Itoa(*job.ArrayTaskID)
	}
	return v
}

// maxPad is the widest zero-padding a pattern gets; Slurm caps it alike.
const maxPad = 10

// Expand replaces Slurm's %j %J %x %u %A %a %N and %% in pattern; a number
// between the % and the letter (%4a) zero-pads a numeric value to that
// width (at most 10), as sbatch does, and is ignored for names. Any other
// %-sequence, and the letters in v.Keep, are kept as written. A value that
// is not usable as one file name (empty for %j %u %A %a %N, ".", "..", or
// holding "/" or a NUL byte) is an error, so a job named ".." cannot turn
// "%x/out" into "../out".
func Expand(pattern string, v Vars) (string, error) {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		if pattern[i+1] == '%' {
			b.WriteByte('%')
			if v.Keep != "" {
				b.WriteByte('%') // the later expansion makes it one
			}
			i++
			continue
		}
		j := i + 1
		for j < len(pattern) && pattern[j] >= '0' && pattern[j] <= '9' {
			j++
		}
		if j == len(pattern) {
			b.WriteString(pattern[i:])
			break
		}
		width, _ := strconv.Atoi(pattern[i+1 : j])
		letter := pattern[j]
		var val, what string
		numeric := true
		switch letter {
		case 'j', 'J':
			val, what = v.JobID, "job id"
		case 'A':
			val, what = v.ArrayJobID, "array job id"
		case 'a':
			val, what = v.ArrayTaskID, "array task id"
		case 'x':
			val, what, numeric = v.Name, "job name", false
		case 'u':
			val, what, numeric = v.User, "user name", false
		case 'N':
			val, what, numeric = v.Node, "node name", false
		default:
			b.WriteString(pattern[i : j+1])
			i = j
			continue
		}
		if strings.IndexByte(v.Keep, letter) >= 0 {
			b.WriteString(pattern[i : j+1])
			i = j
			continue
		}
		if err := fileName(val, letter == 'x'); err != nil {
			return "", fmt.Errorf("%s expands the %s %q, which %v", pattern[i:j+1], what, val, err)
		}
		if numeric && len(val) < min(width, maxPad) {
			b.WriteString(strings.Repeat("0", min(width, maxPad)-len(val)))
		}
		b.WriteString(val)
		i = j
	}
	return b.String(), nil
}

// fileName checks a value substituted into a path.
func fileName(s string, mayBeEmpty bool) error {
	switch {
	case s == "" && !mayBeEmpty:
		return errors.New("is empty")
	case s == "." || s == "..":
		return errors.New("is not a file name")
	case strings.ContainsAny(s, "/\x00"):
		return errors.New("holds a / or NUL byte")
	}
	return nil
}

// Validate checks a spec's workdir, output and error at submission against
// the site's allowed roots (absolute, cleaned directories). It returns the
// first path refused as an *Error naming its field, or nil. %j and %u are
// checked with stand-in values (ids are numbers and user names are checked
// where users are made), and so are %A %a %N; %x with the spec's name.
func Validate(sp core.JobSpec, roots []string) error {
	if sp.WorkDir != "" {
		if err := Check(FieldWorkDir, sp.WorkDir, roots, false); err != nil {
			return err
		}
	}
	vars := Vars{JobID: "1", Name: sp.Name, User: "user", ArrayJobID: "1", ArrayTaskID: "0", Node: "node"}
	for _, f := range []struct{ field, pattern string }{{FieldOutput, sp.Output}, {FieldError, sp.Error}} {
		if f.pattern == "" {
			continue
		}
		if err := raw(f.field, f.pattern); err != nil {
			return err
		}
		p, err := Expand(f.pattern, vars)
		if err != nil {
			return &Error{Field: f.field, Msg: err.Error()}
		}
		if err := Check(f.field, p, roots, true); err != nil {
			return err
		}
	}
	return nil
}

// raw checks what must hold before any expansion.
func raw(field, p string) error {
	switch {
	case len(p) > MaxLen:
		return &Error{Field: field, Msg: fmt.Sprintf("path is %d bytes, more than %d", len(p), MaxLen)}
	case strings.IndexByte(p, 0) >= 0:
		return &Error{Field: field, Msg: "path holds a NUL byte"}
	}
	return nil
}

// Check applies the lexical rules to one path p, already expanded. file
// says p names a file (output, error), not a directory (workdir).
func Check(field, p string, roots []string, file bool) error {
	if err := raw(field, p); err != nil {
		return err
	}
	if p == "" {
		return &Error{Field: field, Msg: "path is empty"}
	}
	if file && strings.HasSuffix(p, "/") {
		return &Error{Field: field, Msg: fmt.Sprintf("%q ends in /: it names a directory, not a file", p)}
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return &Error{Field: field, Msg: fmt.Sprintf("%q has a .. element: paths may not climb out of their directory", p)}
		}
	}
	c := path.Clean(p)
	if file && (c == "." || c == "/") {
		return &Error{Field: field, Msg: fmt.Sprintf("%q names a directory, not a file", p)}
	}
	if path.IsAbs(c) {
		if _, _, ok := Within(c, roots); !ok {
			if len(roots) == 0 {
				return &Error{Field: field, Msg: fmt.Sprintf("%q is absolute, and this site allows no absolute paths (no allowed roots): give a path relative to the job's directory", p)}
			}
			return &Error{Field: field, Msg: fmt.Sprintf("%q is outside the site's allowed roots (%s)", p, strings.Join(roots, ", "))}
		}
	}
	return nil
}

// Within reports which of roots the absolute path p lies under, and p
// relative to it ("." for the root itself). Both are compared cleaned and
// element by element, so /srv/a-b is not under /srv/a.
func Within(p string, roots []string) (root, rel string, ok bool) {
	p = path.Clean(p)
	if !path.IsAbs(p) {
		return "", "", false
	}
	for _, r := range roots {
		r = path.Clean(r)
		switch {
		case !path.IsAbs(r):
			continue
		case p == r:
			return r, ".", true
		case r == "/":
			return r, p[1:], true
		case strings.HasPrefix(p, r+"/"):
			return r, p[len(r)+1:], true
		}
	}
	return "", "", false
}

// ParseRoots reads a list of allowed roots, separated by colons or commas.
// Each must be absolute and free of ".." elements; it is returned cleaned.
// An empty list is no roots.
func ParseRoots(s string) ([]string, error) {
	var out []string
	for _, r := range strings.FieldsFunc(s, func(c rune) bool { return c == ':' || c == ',' }) {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !path.IsAbs(r) {
			return nil, fmt.Errorf("allowed root %q is not absolute", r)
		}
		if strings.IndexByte(r, 0) >= 0 || len(r) > MaxLen {
			return nil, fmt.Errorf("allowed root %q is not a usable path", r)
		}
		for _, el := range strings.Split(r, "/") {
			if el == ".." {
				return nil, fmt.Errorf("allowed root %q has a .. element", r)
			}
		}
		out = append(out, path.Clean(r))
	}
	return out, nil
}

// RunDir is where a job runs, as sbatch decides it: its workdir (-D,
// --chdir) when it names one; else the directory `gf submit` ran in
// (JobSpec.SubmitDir) when that is an absolute path the site's roots allow
// (Check's rules for a workdir), which submitDirUsed reports; else "", the
// job's own directory, which each driver knows. roots are the site's
// (SiteRoots). It is pure, so the API calls it at submission to warn a user
// whose submit directory the site cannot use, and the drivers call it at
// start with the same answer.
func RunDir(sp core.JobSpec, roots []string) (dir string, submitDirUsed bool) {
	if sp.WorkDir != "" {
		return sp.WorkDir, false
	}
	if sd := sp.SubmitDir; sd != "" && path.IsAbs(sd) && Check(FieldWorkDir, sd, roots, false) == nil {
		return path.Clean(sd), true
	}
	return "", false
}
