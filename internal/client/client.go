// Package client is a small typed Go client for Gigafactory's REST API
// (docs/API.md). It is what the gf command-line client uses, and what Go
// programs, notebooks' helpers and tests should use to talk to a control
// plane.
//
// Every method takes a context. Non-streaming calls are bounded by the
// client's timeout (30 s unless WithTimeout says otherwise); streaming log
// reads are bounded only by their context. Errors answered by the server are
// *Problem values that name the offending fields. Idempotent requests (GETs,
// and submissions that carry an idempotency key) are retried a few times on
// network errors and 502/503/504, so a lost answer never submits a job
// twice.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one control plane as one user. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL // scheme://host[:port][/prefix], without /api/v1
	token     string
	hc        *http.Client
	timeout   time.Duration
	retries   int
	backoff   time.Duration
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc. Its own
// Timeout should be zero: the client bounds each call itself, and a log
// stream may last for hours.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each non-streaming call (default 30 s; 0 = only the
// context bounds it).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetries sets how many times an idempotent request is retried after a
// network error or a 502/503/504 answer (default 2).
func WithRetries(n int) Option { return func(c *Client) { c.retries = n } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the control plane at baseURL ("http://host:8080";
// a missing scheme means http) authenticating with the bearer token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		return nil, errors.New("client: empty server URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("client: invalid server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: invalid server URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v1")
	c := &Client{
		base:      u,
		token:     strings.TrimSpace(token),
		hc:        &http.Client{},
		timeout:   30 * time.Second,
		retries:   2,
		backoff:   150 * time.Millisecond,
		userAgent: "gigafactory-client",
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server's URL as the client uses it.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one API call.
type request struct {
	method string
	path   string // under /api/v1, e.g. "/jobs/42"
	query  url.Values
	body   any // marshalled to JSON; a json.RawMessage is sent as is
	header http.Header
	// idempotent allows retries: true for GETs and keyed submissions.
	idempotent bool
}

// do performs r and decodes a 2xx JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", r.method, r.path, err)
	}
	return nil
}

// send performs r, retrying idempotent requests, and returns a 2xx response
// whose body the caller must close; anything else is returned as an error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body []byte
	if r.body != nil {
		if raw, ok := r.body.(json.RawMessage); ok {
			body = raw
		} else {
			var err error
			if body, err = json.Marshal(r.body); err != nil {
				return nil, fmt.Errorf("%s %s: encoding request: %w", r.method, r.path, err)
			}
		}
	}
	u := *c.base
	u.Path = c.base.Path + "/api/v1" + r.path
	u.RawQuery = r.query.Encode()
	attempts := 1
	if r.idempotent || r.method == http.MethodGet {
		attempts += max(c.retries, 0)
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(c.backoff << (2 * (i - 1)))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%s %s: %w (after: %v)", r.method, r.path, ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json, application/problem+json")
		req.Header.Set("User-Agent", c.userAgent)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
			}
			lastErr = err
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				continue
			}
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		p := problemFrom(resp)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			lastErr = p
			continue
		}
		return nil, p
	}
	var p *Problem
	if errors.As(lastErr, &p) {
		return nil, p
	}
	return nil, fmt.Errorf("%s %s: %w", r.method, r.path, lastErr)
}

// Page is one page of a list answer.
type Page[T any] struct {
	Items []T `json:"items"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// listAll follows a list's cursors and returns every item.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	if q == nil {
		q = url.Values{}
	}
	var all []T
	seen := map[string]bool{}
	for {
		var p Page[T]
		if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" || seen[p.NextCursor] {
			return all, nil
		}
		seen[p.NextCursor] = true
		q.Set("cursor", p.NextCursor)
	}
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (r cancelOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.cancel()
	return err
}
