package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// UsageQuery selects the meters of a usage report or listing: runs that
// ended in [From, To), of one organisation or project when given. By and
// Period are the report's grouping (see GET /api/v1/usage/report).
type UsageQuery struct {
	By, Period   string
	From, To     string // RFC 3339 times or dates, as the user wrote them
	Org, Project string
}

func (q UsageQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"by": q.By, "period": q.Period, "from": q.From, "to": q.To, "org": q.Org, "project": q.Project} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// UsageReport is the answer of GET /api/v1/usage/report: meters summed by
// one grouping, and their total.
type UsageReport struct {
	By     string          `json:"by"`
	Period string          `json:"period,omitempty"`
	From   *time.Time      `json:"from,omitempty"`
	To     *time.Time      `json:"to,omitempty"`
	Org    string          `json:"org,omitempty"`
	Rows   []core.MeterRow `json:"rows"`
	Total  core.MeterRow   `json:"total"`
}

// UsageReport sums the meters q selects by q.By (GET /api/v1/usage/report).
func (c *Client) UsageReport(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	var out UsageReport
	if err := c.do(ctx, request{method: http.MethodGet, path: "/usage/report", query: q.values(), idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UsageJobs lists the meters q selects, one per run of a job, by end time,
// all pages of GET /api/v1/usage/jobs.
func (c *Client) UsageJobs(ctx context.Context, q UsageQuery) ([]core.Meter, error) {
	v := q.values()
	v.Del("by")
	v.Del("period")
	out := []core.Meter{}
	for {
		var page struct {
			Items      []core.Meter `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		if err := c.do(ctx, request{method: http.MethodGet, path: "/usage/jobs", query: v, idempotent: true}, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		v.Set("cursor", page.NextCursor)
	}
}
