package sched

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Constraint is a parsed Slurm feature expression (sbatch -C/--constraint)
// over the features a pool declares; a pool's model counts as one of its
// features. Pools are homogeneous, so Slurm's matching OR ("[a|b]": every
// node has the same one of them) means what a plain OR means here.
//
//	expr   = term { "|" term }
//	term   = factor { "&" factor }
//	factor = NAME | "(" expr ")" | "[" expr "]"
//
// Feature counts ("a*2") and negation are refused: they constrain single
// nodes of a heterogeneous allocation, which a pool never is.
type Constraint struct {
	any [][]string // OR of ANDs of lower-case feature names; nil = anything
}

// ParseConstraint reads a feature expression; "" is the constraint that
// every pool meets.
func ParseConstraint(s string) (Constraint, error) {
	if strings.TrimSpace(s) == "" {
		return Constraint{}, nil
	}
	p := &cparser{s: s}
	d, err := p.expr()
	if err == nil && p.i < len(p.s) {
		err = fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
	}
	if err != nil {
		return Constraint{}, fmt.Errorf("constraint %q: %w", s, err)
	}
	return Constraint{any: d}, nil
}

// Features lists the feature names c mentions, sorted, once each.
func (c Constraint) Features() []string {
	var out []string
	for _, t := range c.any {
		out = append(out, t...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Match reports whether a pool of model with features meets c
// (case-insensitively). The model counts as written and by each of its
// words: "AMD Instinct MI250X" has the feature "mi250x".
func (c Constraint) Match(model string, features []string) bool {
	if c.any == nil {
		return true
	}
	has := func(f string) bool {
		if modelIs(model, f) {
			return true
		}
		for _, g := range features {
			if strings.EqualFold(f, g) {
				return true
			}
		}
		return false
	}
	for _, t := range c.any {
		ok := true
		for _, f := range t {
			ok = ok && has(f)
		}
		if ok {
			return true
		}
	}
	return false
}

type cparser struct {
	s string
	i int
}

func (p *cparser) peek() byte {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// expr returns its disjunctive normal form.
func (p *cparser) expr() ([][]string, error) {
	d, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek() == '|' {
		p.i++
		e, err := p.term()
		if err != nil {
			return nil, err
		}
		d = append(d, e...)
	}
	return d, nil
}

func (p *cparser) term() ([][]string, error) {
	d, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.peek() == '&' {
		p.i++
		e, err := p.factor()
		if err != nil {
			return nil, err
		}
		// (a|b)&(c|d) = a&c | a&d | b&c | b&d
		var out [][]string
		for _, x := range d {
			for _, y := range e {
				out = append(out, append(slices.Clone(x), y...))
			}
		}
		if len(out) > 256 {
			return nil, fmt.Errorf("too many alternatives")
		}
		d = out
	}
	return d, nil
}

func (p *cparser) factor() ([][]string, error) {
	switch c := p.peek(); c {
	case '(', '[':
		closer := byte(')')
		if c == '[' {
			closer = ']'
		}
		p.i++
		d, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.peek() != closer {
			return nil, fmt.Errorf("missing %q", closer)
		}
		p.i++
		return d, nil
	case '!':
		return nil, fmt.Errorf("negation (!) is not supported")
	case 0:
		return nil, fmt.Errorf("a feature name is missing at the end")
	}
	j := p.i
	for p.i < len(p.s) && isFeatureByte(p.s[p.i]) {
		p.i++
	}
	if p.i == j {
		return nil, fmt.Errorf("unexpected %q at offset %d: want a feature name", p.s[p.i], p.i)
	}
	name := strings.ToLower(p.s[j:p.i])
	if p.peek() == '*' {
		return nil, fmt.Errorf("feature counts (%s*N) are not supported: a pool's nodes are all alike", name)
	}
	return [][]string{{name}}, nil
}

func isFeatureByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.' || b == ':'
}

// modelIs reports whether feature f names model: all of it or one word.
func modelIs(model, f string) bool {
	if strings.EqualFold(f, model) {
		return true
	}
	for _, w := range strings.Fields(model) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// Unknown returns the features c names that none of pools (model and
// declared features) has, in c's sorted order: a constraint naming one
// can never be met, and a user most likely misspelt it.
func (c Constraint) Unknown(pools []core.Pool) []string {
	var out []string
	for _, f := range c.Features() {
		found := false
		for i := range pools {
			p := &pools[i]
			if modelIs(p.Model, f) || slices.ContainsFunc(p.Features, func(g string) bool { return strings.EqualFold(f, g) }) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, f)
		}
	}
	return out
}
