package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Submit submits one job. A non-empty idempotencyKey makes the request safe
// to retry: the server answers the same job for the same key, and the
// client then retries lost requests itself.
func (c *Client) Submit(ctx context.Context, spec core.JobSpec, idempotencyKey string) (*core.Job, error) {
	return c.submit(ctx, spec, idempotencyKey)
}

// SubmitRaw submits a job spec given as JSON, exactly as the API takes it.
// It is for callers that hold a spec as text, and for testing the server's
// validation with inputs core.JobSpec cannot express.
func (c *Client) SubmitRaw(ctx context.Context, spec json.RawMessage, idempotencyKey string) (*core.Job, error) {
	return c.submit(ctx, spec, idempotencyKey)
}

func (c *Client) submit(ctx context.Context, body any, key string) (*core.Job, error) {
	r := request{method: http.MethodPost, path: "/jobs", body: body}
	if key != "" {
		r.header = http.Header{"Idempotency-Key": {key}}
		r.idempotent = true
	}
	var j core.Job
	if err := c.do(ctx, r, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// SubmitBatch submits several jobs in one transaction: all are accepted or
// none. The answer lists the jobs in the order of specs.
func (c *Client) SubmitBatch(ctx context.Context, specs []core.JobSpec, idempotencyKey string) ([]core.Job, error) {
	r := request{method: http.MethodPost, path: "/jobs:batch", body: struct {
		Jobs []core.JobSpec `json:"jobs"`
	}{specs}}
	if idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {idempotencyKey}}
		r.idempotent = true
	}
	var p Page[core.Job]
	if err := c.do(ctx, r, &p); err != nil {
		return nil, err
	}
	return p.Items, nil
}

// JobFilter selects jobs in ListJobs and Jobs. Zero fields do not filter.
type JobFilter struct {
	States  []core.State
	Project string
	User    string
	Site    string
	// Array selects the tasks of one job array ("1234").
	Array string
	// Limit is the page size (the server's default when 0).
	Limit int
}

func (f JobFilter) query() url.Values {
	q := url.Values{}
	if len(f.States) > 0 {
		s := make([]string, len(f.States))
		for i, st := range f.States {
			s[i] = string(st)
		}
		q.Set("state", strings.Join(s, ","))
	}
	for k, v := range map[string]string{"project": f.Project, "user": f.User, "site": f.Site, "array": f.Array} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// ListJobs returns one page of jobs, newest first. Pass the previous page's
// NextCursor to get the next one; "" starts at the newest.
func (c *Client) ListJobs(ctx context.Context, f JobFilter, cursor string) (*Page[core.Job], error) {
	q := f.query()
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p Page[core.Job]
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs", query: q}, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Jobs iterates over every job f selects, newest first, fetching pages as
// the loop asks for more. An error ends the iteration after being yielded.
func (c *Client) Jobs(ctx context.Context, f JobFilter) iter.Seq2[core.Job, error] {
	return func(yield func(core.Job, error) bool) {
		cursor := ""
		seen := map[string]bool{}
		for {
			p, err := c.ListJobs(ctx, f, cursor)
			if err != nil {
				yield(core.Job{}, err)
				return
			}
			for _, j := range p.Items {
				if !yield(j, nil) {
					return
				}
			}
			if p.NextCursor == "" || seen[p.NextCursor] {
				return
			}
			seen[p.NextCursor] = true
			cursor = p.NextCursor
		}
	}
}

// GetJob returns a job, with its reason and estimated start when pending.
func (c *Client) GetJob(ctx context.Context, id core.JobID) (*core.Job, error) {
	var j core.Job
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs/" + id.String()}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// CancelJob cancels a job and returns it. Cancelling an ended job is not an
// error on the server's side; the answer shows its final state.
func (c *Client) CancelJob(ctx context.Context, id core.JobID) (*core.Job, error) {
	var j core.Job
	r := request{method: http.MethodPost, path: "/jobs/" + id.String() + "/cancel", idempotent: true}
	if err := c.do(ctx, r, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// CancelJobs cancels many jobs in one request (POST /api/v1/jobs:cancel,
// at most 10,000 ids), each as CancelJob cancels one, and returns them as
// they are after, in the order of ids. An id the caller may not see
// refuses the whole request (422 naming ids[i]).
func (c *Client) CancelJobs(ctx context.Context, ids []core.JobID) ([]core.Job, error) {
	r := request{method: http.MethodPost, path: "/jobs:cancel", idempotent: true, body: struct {
		IDs []core.JobID `json:"ids"`
	}{ids}}
	var p Page[core.Job]
	if err := c.do(ctx, r, &p); err != nil {
		return nil, err
	}
	return p.Items, nil
}

// Log streams.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Logs opens a job's stdout or stderr ("" means stdout) from byte offset.
// With follow the body keeps streaming until the job ends (or ctx is done);
// without it, it ends at what has been written so far and the client's
// timeout applies. The caller must close the reader.
func (c *Client) Logs(ctx context.Context, id core.JobID, stream string, offset int64, follow bool) (io.ReadCloser, error) {
	q := url.Values{}
	if stream != "" {
		q.Set("stream", stream)
	}
	if offset > 0 {
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	if follow {
		q.Set("follow", "true")
	}
	cancel := context.CancelFunc(func() {})
	if !follow && c.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/jobs/" + id.String() + "/logs", query: q})
	if err != nil {
		cancel()
		return nil, err
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

// JobEvents returns a job's history, oldest first.
func (c *Client) JobEvents(ctx context.Context, id core.JobID) ([]core.Event, error) {
	return listAll[core.Event](ctx, c, "/jobs/"+id.String()+"/events", nil)
}

// Explanation is the answer of the explain endpoint: the job, the
// scheduler's status for it (why it waits, when it should start, its
// priority) and whatever else the server explains, such as the factors its
// priority is made of. The status is read from the top-level "status"
// member (docs/API.md) or from "explanation.status".
type Explanation struct {
	Job    core.Job `json:"job"`
	Status Status   `json:"status"`
	// Extra holds the document's other top-level members, undecoded.
	Extra map[string]json.RawMessage `json:"-"`
	// Raw is the document as the server sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes job and status and keeps every other member in Extra.
func (e *Explanation) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = Explanation{Raw: append(json.RawMessage(nil), b...)}
	if v, ok := m["job"]; ok {
		if err := json.Unmarshal(v, &e.Job); err != nil {
			return fmt.Errorf("explanation job: %w", err)
		}
		delete(m, "job")
	}
	status, ok := m["status"]
	if !ok {
		// The server may nest the status one level down, as
		// {"explanation": {"known": true, "status": {...}}}.
		var inner struct {
			Status json.RawMessage `json:"status"`
		}
		if v, found := m["explanation"]; found && json.Unmarshal(v, &inner) == nil && inner.Status != nil {
			status = inner.Status
		}
	}
	delete(m, "status")
	if status != nil && string(status) != "null" {
		if err := json.Unmarshal(status, &e.Status); err != nil {
			return fmt.Errorf("explanation status: %w", err)
		}
	}
	if len(m) > 0 {
		e.Extra = m
	}
	return nil
}

// MarshalJSON returns the document as the server sent it.
func (e Explanation) MarshalJSON() ([]byte, error) {
	if e.Raw != nil {
		return e.Raw, nil
	}
	m := map[string]any{"job": e.Job, "status": e.Status}
	for k, v := range e.Extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// Status is the scheduler's view of a job in an Explanation: the JSON form
// of engine.Status, declared here so that clients do not depend on the
// scheduling core. Members the server adds are kept in Explanation.Raw.
type Status struct {
	ID             core.JobID `json:"id"`
	State          core.State `json:"state"`
	Reason         string     `json:"reason,omitempty"`
	Reasons        []string   `json:"reasons,omitempty"`
	EstimatedStart *time.Time `json:"estimated_start,omitempty"`
	Priority       float64    `json:"priority"`
}

// Explain returns why a job waits (or where and why it runs), its
// estimated start and its priority with the factors it is made of.
func (c *Client) Explain(ctx context.Context, id core.JobID) (*Explanation, error) {
	var e Explanation
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs/" + id.String() + "/explain"}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// WaitJob polls a job until it reaches a terminal state and returns it. The
// interval starts at 100 ms and grows to every.
func (c *Client) WaitJob(ctx context.Context, id core.JobID, every time.Duration) (*core.Job, error) {
	if every <= 0 {
		every = 2 * time.Second
	}
	d := 100 * time.Millisecond
	for {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			return j, nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return j, fmt.Errorf("waiting for job %d: %w", id, ctx.Err())
		case <-t.C:
		}
		d = min(d*2, every)
	}
}

// GetJobRef returns the job a reference names as users write it: "1234",
// or "1234_7" for task 7 of array 1234.
func (c *Client) GetJobRef(ctx context.Context, ref string) (*core.Job, error) {
	var j core.Job
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs/" + url.PathEscape(ref)}, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Cancel cancels what a reference names, as scancel does: "1234_7" one task
// of an array, "1234" the job, or every task when 1234 is an array. It
// returns the jobs as they stand after the cancel.
func (c *Client) Cancel(ctx context.Context, ref string) ([]core.Job, error) {
	var raw json.RawMessage
	r := request{method: http.MethodPost, path: "/jobs/" + url.PathEscape(ref) + "/cancel", idempotent: true}
	if err := c.do(ctx, r, &raw); err != nil {
		return nil, err
	}
	var l struct {
		Items []core.Job `json:"items"`
	}
	if err := json.Unmarshal(raw, &l); err == nil && l.Items != nil {
		return l.Items, nil
	}
	var j core.Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("decode cancel answer: %w", err)
	}
	return []core.Job{j}, nil
}
