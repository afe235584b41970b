// Package diag holds the diagnostics shared by Gigafactory's file parsers
// (job specs, batch scripts, the federation config): an error that names a
// file, a line and a field path, a list of them, and the small helpers that
// walk a gopkg.in/yaml.v3 node tree and describe what they found.
//
// Parsers collect every problem they find instead of stopping at the first,
// so a user fixes a file in one round trip.
package diag

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem found in an input, located by file, line and field.
// Line is 0 where the input has no lines (a JSON body decoded as a whole).
type Error struct {
	File  string // as given to the parser; may be empty
	Line  int    // 1-based; 0 = unknown
	Field string // path such as "accelerators", "env.FOO", "sites[0].pools[1].nodes"; may be empty
	Msg   string
}

// Error formats e as "file:line: field: message", leaving out the parts
// that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one input, in the order of the input.
type Errors []*Error

// Error joins the problems, one a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual problems to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns es as an error, or a true nil when there are no problems (a
// nil Errors stored in an error interface would not compare equal to nil).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Sort orders the problems by line, keeping the order of equal lines;
// problems with no line (a missing field) come last.
func (es Errors) Sort() {
	key := func(e *Error) int {
		if e.Line <= 0 {
			return int(^uint(0) >> 1)
		}
		return e.Line
	}
	sort.SliceStable(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
}

// List collects problems for one file.
type List struct {
	File string
	Errs Errors
}

// Add records a problem at line for field.
func (l *List) Add(line int, field, format string, args ...any) {
	l.Errs = append(l.Errs, &Error{File: l.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Resolve follows aliases (a bounded number of times, so a crafted input
// cannot loop) and returns the node they point at.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// Describe names what a node holds, for "want X, got Y" messages:
// `string "abc"`, `number -1`, `boolean true`, `null`, `a list`, `a mapping`.
func Describe(n *yaml.Node) string {
	n = Resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return "string " + strconv.Quote(v)
	case "!!int", "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "null"
	}
	return fmt.Sprintf("%s %s", n.ShortTag(), strconv.Quote(v))
}

// IsNull reports whether n is absent or an explicit null.
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Pair is one key/value entry of a YAML mapping.
type Pair struct {
	Key   string
	KeyN  *yaml.Node
	Value *yaml.Node
}

// Fields returns the entries of mapping n whose key is in known and records
// an error for each unknown key (with a did-you-mean when one is close),
// each non-string key and each key given twice. path prefixes the field
// names of the errors ("" at the top level).
func Fields(l *List, n *yaml.Node, path string, known []string) []Pair {
	var out []Pair
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			l.Add(n.Content[i].Line, path, "field names must be strings, got %s", Describe(k))
			continue
		}
		field := Join(path, k.Value)
		if line, dup := first[k.Value]; dup {
			l.Add(k.Line, field, "%s", twice(line))
			continue
		}
		first[k.Value] = k.Line
		if !contains(known, k.Value) {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := Suggest(k.Value, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.Add(k.Line, field, "%s", msg)
			continue
		}
		out = append(out, Pair{Key: k.Value, KeyN: k, Value: v})
	}
	return out
}

// Join appends a field name to a path with a dot.
func Join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Suggest returns the known name closest to s when it is close enough to be
// a likely typo (edit distance at most 2, or 3 for long names), else "".
// Names are compared case-insensitively with '-' and '_' treated alike.
func Suggest(s string, known []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	best, bestD := "", 1<<30
	ns := norm(s)
	for _, k := range known {
		d := distance(ns, norm(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(s) >= 10 {
		limit = 3
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

// distance is the Levenshtein edit distance; inputs longer than 64 bytes
// are cut so a hostile key costs little.
func distance(a, b string) int {
	if len(a) > 64 {
		a = a[:64]
	}
	if len(b) > 64 {
		b = b[:64]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// twice words the duplicate-key problem, naming the first line when known.
func twice(first int) string {
	if first > 0 {
		return fmt.Sprintf("given twice (first at line %d)", first)
	}
	return "given twice"
}
