package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

// Output formats of -o/--output.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

// checkOutput validates -o before any request is made.
func checkOutput(env *cliEnv) error {
	switch env.output {
	case outTable, outJSON, outYAML, "":
		return nil
	}
	return usagef(env, "-o %q: want table, json or yaml (csv: gf usage only)", env.output)
}

// usagef reports a mistake in the command line and asks main for exit 2.
func usagef(env *cliEnv, format string, args ...any) error {
	fmt.Fprintf(env.stderr, "gf: "+format+"\n", args...)
	return errUsage
}

// emit writes v as JSON or YAML when -o asks for it, else calls table. The
// JSON is exactly the API's objects; the YAML is the same data, keys in the
// same order.
func emit(env *cliEnv, v any, table func(w io.Writer) error) error {
	switch env.output {
	case outJSON:
		return writeJSON(env.stdout, v)
	case outYAML:
		return writeYAML(env.stdout, v)
	}
	return table(env.stdout)
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeYAML encodes v through its JSON form, so YAML and JSON output agree
// on names, units and key order.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return err
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle clears the flow and quoting styles JSON's syntax left on n, so
// the encoder writes ordinary block YAML (quoting only where needed).
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// newTable returns a tabwriter for aligned columns; flush it when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// detailTable returns a table and a function that writes one "Key: value"
// row of it, leaving out empty values: the detail views (gf show, gf sites
// SITE, gf reservations ID).
func detailTable(w io.Writer) (*tabwriter.Writer, func(k, v string)) {
	tw := newTable(w)
	return tw, func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
}

// row writes one tab-separated row.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// slurmDuration formats d as squeue does: M:SS, H:MM:SS or D-HH:MM:SS.
func slurmDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, h, m, sec := s/86400, s/3600%24, s/60%60, s%60
	switch {
	case days > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, sec)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// humanDuration formats d in at most two units: 45s, 5m10s, 3h5m, 2d3h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return trimZero(fmt.Sprintf("%dm%ds", s/60, s%60))
	case s < 86400:
		return trimZero(fmt.Sprintf("%dh%dm", s/3600, s/60%60))
	}
	return trimZero(fmt.Sprintf("%dd%dh", s/86400, s/3600%24))
}

func trimZero(s string) string {
	for _, z := range []string{"0s", "0m", "0h"} {
		if strings.HasSuffix(s, z) && len(s) > len(z) && (s[len(s)-len(z)-1] < '0' || s[len(s)-len(z)-1] > '9') {
			return strings.TrimSuffix(s, z)
		}
	}
	return s
}

// stamp formats t as Slurm does (local time, seconds), or "" for nil.
func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02T15:04:05")
}

// stampRel is stamp followed by how long ago (or in how long) t is.
func stampRel(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	switch {
	case d > time.Second:
		return fmt.Sprintf("%s (in %s)", stamp(t), humanDuration(d))
	case d < -time.Second:
		return fmt.Sprintf("%s (%s ago)", stamp(t), humanDuration(d))
	}
	return stamp(t) + " (now)"
}

// number formats a float without needless decimals: 2, 0.5, 1234.57.
func number(f float64) string {
	s := fmt.Sprintf("%.4f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// field is one flattened member of a JSON document: its path and value.
type field struct {
	path  string
	value string
	num   bool // value is a JSON number
}

// flattenJSON lists the scalar members of a JSON document in document
// order, with paths like "factors.age" and "reasons[1]". It shows
// documents whose shape the CLI does not know (the explain endpoint's
// priority factors) without losing anything.
func flattenJSON(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out []field
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' {
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					p := k.(string)
					if prefix != "" {
						p = prefix + "." + p
					}
					if err := walk(p); err != nil {
						return err
					}
				}
			} else {
				for i := 0; dec.More(); i++ {
					if err := walk(fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
						return err
					}
				}
			}
			_, err := dec.Token() // the closing delimiter
			return err
		case json.Number:
			f, _ := t.Float64()
			out = append(out, field{path: prefix, value: number(f), num: true})
		case string:
			out = append(out, field{path: prefix, value: t})
		case bool:
			out = append(out, field{path: prefix, value: fmt.Sprint(t)})
		case nil:
			out = append(out, field{path: prefix, value: "null"})
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
