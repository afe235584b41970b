package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gigafactory/gigafactory/internal/driver"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// client speaks HTTP to one slurmrestd: it signs each request with the
// user and a fresh token, bounds it with a timeout, and retries what is
// safe to retry with exponential backoff and jitter.
type client struct {
	base        string // "http://host:port", no trailing slash
	user        string
	tokens      *tokenSource
	hc          *http.Client
	timeout     time.Duration // per attempt
	listTimeout time.Duration // per attempt of a full job listing (opList)
	retries     int           // extra attempts for retryable failures
	backoff     time.Duration // first backoff; doubles up to maxBackoff
	log         *slog.Logger
}

const maxBackoff = 5 * time.Second

// opList names full job listings: slurmrestd 22.05 builds them slowly
// (7,000 jobs: 25 MB, over a minute on a loaded machine), so they get
// listTimeout instead of timeout.
const opList = "list jobs"

// apiError is one entry of a slurmrestd response's "errors" list. 22.05
// spells the number error_number, errno or error_code depending on the
// endpoint.
type apiError struct {
	Number      int    `json:"error_number"`
	Errno       int    `json:"errno"`
	Code        int    `json:"error_code"`
	Error       string `json:"error"`
	Description string `json:"description"`
	Source      string `json:"source"`
}

// num is the Slurm error number, whichever field carries it.
func (e apiError) num() int {
	switch {
	case e.Number != 0:
		return e.Number
	case e.Errno != 0:
		return e.Errno
	}
	return e.Code
}

func (e apiError) String() string {
	s := e.Error
	if e.Description != "" && e.Description != e.Error {
		s += ": " + e.Description
	}
	if n := e.num(); n != 0 {
		s += fmt.Sprintf(" (%d)", n)
	}
	return s
}

// Slurm error numbers the driver acts on (slurm_errno.h).
const (
	esInvalidJobID    = 2017 // ESLURM_INVALID_JOB_ID
	esAlreadyDone     = 2021 // ESLURM_ALREADY_DONE
	esTransitionState = 2050 // ESLURM_TRANSITION_STATE_NO_UPDATE
)

// requestError is a failed request after all attempts.
type requestError struct {
	Op        string
	Status    int // 0: no HTTP answer
	Errors    []apiError
	Err       error // transport error, if any
	Retryable bool  // the failure looks transient (down, slow, 5xx, token)
}

func (e *requestError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slurmrestd %s: ", e.Op)
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	for i, ae := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(ae.String())
	}
	if e.Status >= 500 && len(e.Errors) > 0 && !e.final() {
		b.WriteString(" (slurmrestd 22.05 also answers an invalid or expired token this way)")
	}
	return b.String()
}

// has reports whether Slurm answered with error number n.
func (e *requestError) has(n int) bool {
	for _, ae := range e.Errors {
		if ae.num() == n {
			return true
		}
	}
	return false
}

// hasSlurmError reports whether err carries Slurm error number n.
func hasSlurmError(err error, n int) bool {
	var re *requestError
	return errors.As(err, &re) && re.has(n)
}

// response is a successful answer.
type response struct {
	Status int
	Body   []byte
}

// call performs one request. With retry it retries transient failures;
// without (a submit, which is not idempotent) it makes one attempt and
// leaves recovery to the caller.
func (c *client) call(ctx context.Context, op, method, path string, body []byte, retry bool) (response, error) {
	attempts := 1
	if retry {
		attempts += c.retries
	}
	var last *requestError
	wait := c.backoff
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if err := sleep(ctx, jitter(wait)); err != nil {
				return response{}, last
			}
			wait = min(2*wait, maxBackoff)
		}
		resp, err := c.once(ctx, op, method, path, body)
		if err == nil {
			return resp, nil
		}
		last = err
		if !err.Retryable || ctx.Err() != nil {
			break
		}
		c.log.Debug("slurmrestd request failed; retrying", "op", op, "attempt", i+1, "err", err)
	}
	return response{}, last
}

// once makes one attempt.
func (c *client) once(ctx context.Context, op, method, path string, body []byte) (response, *requestError) {
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return response{}, &requestError{Op: op, Err: err}
	}
	timeout := c.timeout
	if op == opList {
		timeout = max(c.timeout, c.listTimeout)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rd)
	if err != nil {
		return response{}, &requestError{Op: op, Err: err}
	}
	req.Header.Set("X-SLURM-USER-NAME", c.user)
	req.Header.Set("X-SLURM-USER-TOKEN", string(tok))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		// Down, refused, reset or slow: all worth another try. The URL in
		// a *url.Error holds no secret (the token travels in a header).
		return response{}, &requestError{Op: op, Err: err, Retryable: true}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return response{}, &requestError{Op: op, Status: res.StatusCode, Err: err, Retryable: true}
	}
	if res.StatusCode == http.StatusNotModified || res.StatusCode/100 == 2 {
		return response{Status: res.StatusCode, Body: b}, nil
	}
	re := &requestError{Op: op, Status: res.StatusCode, Errors: decodeErrors(b)}
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		re.Retryable = c.tokens.invalidate()
	case res.StatusCode >= 500:
		// 22.05 answers a bad or expired token with 500 and an error
		// numbered -1 (or 5005 on submit), indistinguishable from a
		// controller hiccup; a real Slurm error has a positive ESLURM
		// number below 5000 and is final.
		re.Retryable = !re.final()
		if re.Retryable {
			c.tokens.invalidate()
		}
	case res.StatusCode == http.StatusTooManyRequests:
		re.Retryable = true
	}
	return response{}, re
}

// final reports whether the answer carries a definite Slurm error.
func (e *requestError) final() bool {
	for _, ae := range e.Errors {
		if n := ae.num(); n > 0 && n < 5000 {
			return true
		}
	}
	return false
}

// decodeErrors extracts the "errors" list from any slurmrestd answer.
func decodeErrors(b []byte) []apiError {
	var env struct {
		Errors []apiError `json:"errors"`
	}
	if json.Unmarshal(b, &env) != nil {
		return nil
	}
	return env.Errors
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter spreads d over [d/2, d) so that many drivers do not retry in step.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// joinErrors formats Slurm's errors for a job's reason.
func joinErrors(errs []apiError) string {
	if len(errs) == 0 {
		return "no reason given"
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}

// Unwrap exposes the transport error and, for a failure that looks
// transient, driver.ErrUnavailable, so the daemon backs off from the site
// instead of failing the job.
func (e *requestError) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.Retryable {
		out = append(out, driver.ErrUnavailable)
	}
	return out
}
