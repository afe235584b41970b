package diag

import (
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoders below read one scalar of a known type from a node. On a
// type mismatch they record "want X, got Y" at the node's line and report
// false; the caller leaves its zero value in place.

// String decodes a string. Numbers and booleans are refused so that
// "version: 1.10" does not silently become "1.1".
func String(l *List, field string, n *yaml.Node) (string, bool) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		if IsNull(n) {
			return "", true
		}
		l.Add(line(n), field, "want a string, got %s", Describe(n))
		return "", false
	}
	return n.Value, true
}

// Scalar decodes any scalar as its text: strings, numbers and booleans
// alike. It is for free-form string maps (driver options, env).
func Scalar(l *List, field string, n *yaml.Node) (string, bool) {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		l.Add(line(n), field, "want a string, got %s", Describe(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return n.Value, true
}

// Bool decodes true or false.
func Bool(l *List, field string, n *yaml.Node) (bool, bool) {
	n = Resolve(n)
	if IsNull(n) {
		return false, true
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		l.Add(line(n), field, "want true or false, got %s", Describe(n))
		return false, false
	}
	return b, true
}

// Int decodes a whole number within [math.MinInt64, math.MaxInt64]; range
// checks are the caller's.
func Int(l *List, field string, n *yaml.Node) (int64, bool) {
	n = Resolve(n)
	if IsNull(n) {
		return 0, true
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int64
		if err := n.Decode(&v); err == nil {
			return v, true
		}
		l.Add(n.Line, field, "number out of range: %s", n.Value)
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
		l.Add(n.Line, field, "want a whole number, got %s", Describe(n))
		return 0, false
	}
	l.Add(line(n), field, "want a whole number, got %s", Describe(n))
	return 0, false
}

// Float decodes a finite number.
func Float(l *List, field string, n *yaml.Node) (float64, bool) {
	n = Resolve(n)
	if IsNull(n) {
		return 0, true
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
		l.Add(n.Line, field, "want a finite number, got %s", Describe(n))
		return 0, false
	}
	l.Add(line(n), field, "want a number, got %s", Describe(n))
	return 0, false
}

// Strings decodes a list of strings. With single true, one string is also
// accepted and returned as a list of one.
func Strings(l *List, field string, n *yaml.Node, single bool) ([]string, bool) {
	n = Resolve(n)
	if IsNull(n) {
		return nil, true
	}
	if n.Kind == yaml.ScalarNode && single && n.ShortTag() == "!!str" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		l.Add(line(n), field, "want a list of strings, got %s", Describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		s, good := String(l, field+"["+strconv.Itoa(i)+"]", c)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// Mapping checks that n is a mapping (or null, reported as ok and nil).
func Mapping(l *List, field string, n *yaml.Node) (*yaml.Node, bool) {
	n = Resolve(n)
	if IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		l.Add(line(n), field, "want a mapping, got %s", Describe(n))
		return nil, false
	}
	return n, true
}

// StringMap decodes a mapping of names to scalar values, each kept as text.
// lines receives the line of each key under "field.KEY".
func StringMap(l *List, field string, n *yaml.Node, lines map[string]int) (map[string]string, bool) {
	m, ok := Mapping(l, field, n)
	if m == nil {
		return nil, ok
	}
	out := map[string]string{}
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := Resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			l.Add(m.Content[i].Line, field, "keys must be strings, got %s", Describe(k))
			ok = false
			continue
		}
		f := field + "." + k.Value
		if prev, dup := first[k.Value]; dup {
			l.Add(k.Line, f, "%s", twice(prev))
			ok = false
			continue
		}
		first[k.Value] = k.Line
		if lines != nil {
			lines[f] = k.Line
		}
		v, good := Scalar(l, f, m.Content[i+1])
		ok = ok && good
		out[k.Value] = v
	}
	return out, ok
}

// Line returns the line of n, or 0 for nil.
func Line(n *yaml.Node) int { return line(n) }

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}
