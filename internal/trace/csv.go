package trace

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// CSV reads Gigafactory's canonical trace format: a header line, then one
// job per line. Required columns:
//
//	submit_s      submit time in seconds from the trace's start
//	duration_s    run time in seconds
//	accelerators  a decimal number of accelerators ("8", "0.25")
//
// Optional columns: tenant, org_kind (research, sme, startup, industry,
// public), model ("H100|A100"), walltime_s, residency (ISO 3166-1 alpha-2
// codes separated by "|"; empty = anywhere) and preemptible (true/false/1/0).
// Columns may come in any order; unknown columns are ignored.
type CSV struct{ *rows }

// NewCSV reads a canonical CSV trace from r.
func NewCSV(r io.Reader, opts Options) (*CSV, error) {
	rs, err := newRows(r, opts, "submit_s", "duration_s", "accelerators")
	if err != nil {
		return nil, err
	}
	return &CSV{rs}, nil
}

// OpenCSV opens a canonical CSV trace file (".gz" allowed).
func OpenCSV(path string, opts Options) (*CSV, error) {
	return openReader(path, opts, NewCSV)
}

// Next returns the next job in file order.
func (c *CSV) Next() (Job, error) { return c.nextJob(c.parse) }

func (c *CSV) parse(rec []string) (Job, error) {
	var j Job
	var err error
	j.Line = c.line
	if j.Submit, err = seconds(c.field(rec, "submit_s")); err != nil {
		return Job{}, fmt.Errorf("submit_s: %w", err)
	}
	if j.Duration, err = seconds(c.field(rec, "duration_s")); err != nil {
		return Job{}, fmt.Errorf("duration_s: %w", err)
	}
	acc := c.field(rec, "accelerators")
	if acc == "" {
		return Job{}, errors.New("accelerators: empty")
	}
	if j.Accelerators, err = core.ParseMilli(acc); err != nil {
		return Job{}, fmt.Errorf("accelerators: %w", err)
	}
	switch {
	case j.Accelerators == 0:
		j.Devices = 0
	case j.Accelerators < 1000:
		j.Devices = 1
	case j.Accelerators%1000 != 0:
		return Job{}, fmt.Errorf("accelerators: %s: more than one accelerator must be a whole number", acc)
	default:
		j.Devices = int(j.Accelerators / 1000)
	}
	j.Tenant = c.field(rec, "tenant")
	if k := strings.ToLower(c.field(rec, "org_kind")); k != "" {
		if !core.ValidOrgKind(k) {
			return Job{}, fmt.Errorf("org_kind: unknown %q (research, sme, startup, industry, public)", k)
		}
		j.OrgKind = k
	}
	j.Model = c.field(rec, "model")
	if w := c.field(rec, "walltime_s"); w != "" {
		if j.Walltime, err = seconds(w); err != nil {
			return Job{}, fmt.Errorf("walltime_s: %w", err)
		}
	}
	if res := c.field(rec, "residency"); res != "" {
		for _, cc := range strings.Split(res, "|") {
			cc = strings.ToUpper(strings.TrimSpace(cc))
			if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
				return Job{}, fmt.Errorf("residency: %q is not an ISO 3166-1 alpha-2 code", cc)
			}
			j.Residency = append(j.Residency, cc)
		}
	}
	if p := c.field(rec, "preemptible"); p != "" {
		if j.Preemptible, err = strconv.ParseBool(p); err != nil {
			return Job{}, fmt.Errorf("preemptible: want true or false, got %q", p)
		}
	}
	return j, nil
}
