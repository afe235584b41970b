package api

import (
	"net/http"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/meter"
	"github.com/gigafactory/gigafactory/internal/store"
)

// usageReport is the answer of GET /api/v1/usage/report: the meters of
// runs that ended in [from, to), summed by one grouping, and their total.
type usageReport struct {
	By     string          `json:"by"`
	Period string          `json:"period,omitempty"`
	From   *time.Time      `json:"from,omitempty"`
	To     *time.Time      `json:"to,omitempty"`
	Org    string          `json:"org,omitempty"` // the organisation a tenant's report is limited to
	Rows   []core.MeterRow `json:"rows"`
	Total  core.MeterRow   `json:"total"`
}

// meterFilter reads from, to and (for a global admin) org from the query;
// every other caller sees only their own organisation's meters.
func meterFilter(r *http.Request) (store.MeterFilter, error) {
	q := r.URL.Query()
	var f store.MeterFilter
	for _, tf := range []struct {
		name string
		to   *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(tf.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return f, invalidField(tf.name, "want an RFC 3339 time or a date (2026-12-01), got %.40q", v)
			}
		}
		*tf.to = t
	}
	for _, p := range []struct {
		name string
		to   *string
	}{{"org", &f.Org}, {"project", &f.Project}} {
		v := q.Get(p.name)
		if err := checkText(p.name, v, maxQueryValue, false); err != nil {
			return f, err
		}
		*p.to = v
	}
	if u := userFrom(r.Context()); !isAdmin(u) {
		if f.Org != "" && f.Org != u.Org {
			return f, notFound("no organisation %q", f.Org)
		}
		f.Org = u.Org
		if f.Org == "" {
			f.Org = "\x00none" // a user of no organisation has no meters
		}
	}
	return f, nil
}

func (s *Server) usageReport(w http.ResponseWriter, r *http.Request) error {
	f, err := meterFilter(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	by := q.Get("by")
	if by == "" {
		by = "project"
	}
	by, _, err = meter.CheckGrouping(by, "")
	if err != nil {
		return invalidField("by", "want one of %v, got %.40q", meter.Groupings, q.Get("by"))
	}
	_, period, err := meter.CheckGrouping(by, q.Get("period"))
	if err != nil {
		return invalidField("period", "want one of %v, got %.40q", meter.Periods, q.Get("period"))
	}
	ms, _, err := s.st.ListMeters(r.Context(), f)
	if err != nil {
		return err
	}
	rows, err := meter.Summarise(ms, by, period)
	if err != nil {
		return invalidField("by", "%v", err)
	}
	out := usageReport{By: by, Rows: rows}
	if by == "period" {
		out.Period = period
	}
	if !f.From.IsZero() {
		out.From = &f.From
	}
	if !f.To.IsZero() {
		out.To = &f.To
	}
	if !isAdmin(userFrom(r.Context())) {
		out.Org = f.Org
	}
	jobs := map[core.JobID]bool{}
	for _, m := range ms {
		meter.Add(&out.Total, m)
		jobs[m.JobID] = true
	}
	out.Total.Key, out.Total.Jobs = "total", len(jobs)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) usageJobs(w http.ResponseWriter, r *http.Request) error {
	f, err := meterFilter(r)
	if err != nil {
		return err
	}
	if f.Limit, err = pageLimit(r); err != nil {
		return err
	}
	f.Cursor = r.URL.Query().Get("cursor")
	if err := checkText("cursor", f.Cursor, maxQueryValue, false); err != nil {
		return err
	}
	ms, next, err := s.st.ListMeters(r.Context(), f)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []core.Meter{}
	}
	return writeJSON(w, http.StatusOK, list[core.Meter]{Items: ms, NextCursor: next})
}
