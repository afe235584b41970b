package api

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`

	retryAfter int // seconds: the Retry-After header, when not 0
}

// FieldError names one offending field of a request.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
	Line   int    `json:"line,omitempty"`
}

// apiError is an error that already knows its HTTP status.
type apiError struct {
	status     int
	kind       string
	detail     string
	fields     []FieldError
	retryAfter int // seconds, for 429 and 503
}

func (e *apiError) Error() string { return e.detail }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, kind: "bad-request", detail: fmt.Sprintf(format, args...)}
}

func invalidField(field, format string, args ...any) error {
	d := fmt.Sprintf(format, args...)
	return &apiError{status: http.StatusUnprocessableEntity, kind: "invalid-field", detail: field + ": " + d, fields: []FieldError{{Field: field, Detail: d}}}
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, kind: "not-found", detail: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &apiError{status: http.StatusConflict, kind: "conflict", detail: fmt.Sprintf(format, args...)}
}

func exists(format string, args ...any) error {
	return &apiError{status: http.StatusConflict, kind: "exists", detail: fmt.Sprintf(format, args...)}
}

// tooLarge says which limit a body passed.
func tooLarge(limit int64) error {
	return &apiError{status: http.StatusRequestEntityTooLarge, kind: "too-large", detail: fmt.Sprintf("request body over %d bytes, this route's limit", limit)}
}

func forbidden(format string, args ...any) error {
	return &apiError{status: http.StatusForbidden, kind: "forbidden", detail: fmt.Sprintf(format, args...)}
}

// methodNotAllowed answers a known path asked with a method it does not
// serve; allow is the path's Allow header.
func methodNotAllowed(method, path, allow string) error {
	return &apiError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", detail: fmt.Sprintf("%s is not served on %s: use %s", method, path, allow)}
}

var errUnauthenticated = &apiError{status: http.StatusUnauthorized, kind: "unauthenticated", detail: "missing or invalid bearer token"}

// problemFor maps an error to its problem document: the one table from
// error kinds to HTTP statuses. Details never carry the text of a lower
// layer's error (its "store: ..." chain, SQL, paths): handlers turn what
// a user may know into an apiError, and the rest gets a fixed sentence.
func problemFor(err error) Problem {
	var ae *apiError
	var se spec.Errors
	switch {
	case errors.As(err, &ae):
		return Problem{Status: ae.status, Type: ae.kind, Detail: ae.detail, Errors: ae.fields}
	case errors.As(err, &se):
		if rootOnly(se) {
			// Nothing named: the body is not a spec at all (not JSON,
			// not an object, data after it).
			return Problem{Status: http.StatusBadRequest, Type: "bad-request", Detail: se.Error()}
		}
		p := Problem{Status: http.StatusUnprocessableEntity, Type: "invalid-field", Detail: se.Error()}
		for _, e := range se {
			p.Errors = append(p.Errors, FieldError{Field: e.Field, Detail: e.Msg, Line: e.Line})
		}
		return p
	case errors.Is(err, store.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Type: "not-found", Detail: "not found"}
	case errors.Is(err, store.ErrExists):
		return Problem{Status: http.StatusConflict, Type: "exists", Detail: "already exists"}
	case errors.Is(err, store.ErrBadCursor):
		return Problem{Status: http.StatusBadRequest, Type: "invalid-field", Detail: "cursor: invalid cursor", Errors: []FieldError{{Field: "cursor", Detail: "invalid cursor"}}}
	case store.DiskFull(err):
		return Problem{Status: http.StatusInsufficientStorage, Type: "disk-full", Detail: "the store's disk is full: nothing was stored; retry once an operator has freed space"}
	case storeUnreachable(err):
		return Problem{Status: http.StatusServiceUnavailable, Type: "unavailable", Detail: "the store cannot be reached: nothing was done; retry shortly",
			retryAfter: storeRetryAfter}
	case errors.Is(err, daemon.ErrNotLeader):
		return Problem{Status: http.StatusServiceUnavailable, Type: "unavailable", Detail: "this controller does not lead and only the leader can do this: retry, or ask the leader (gf controllers)"}
	case errors.Is(err, daemon.ErrConflict):
		return Problem{Status: http.StatusConflict, Type: "conflict", Detail: "the job's state does not allow this now"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Problem{Status: http.StatusServiceUnavailable, Type: "unavailable", Detail: "the request was cancelled or timed out"}
	}
	return Problem{Status: http.StatusInternalServerError, Type: "internal", Detail: "internal error"}
}

// storeRetryAfter is the Retry-After of a store that cannot be reached:
// a PostgreSQL restart takes a few seconds.
const storeRetryAfter = 2

// storeUnreachable reports whether err says that the store could not be
// reached, rather than that it refused the request: a connection refused,
// reset or broken (database/sql's bad connection), a closed pool, a
// PostgreSQL that shuts down, crashed or is starting up (SQLSTATE 57P01-03,
// and class 08, connection exceptions). Nothing was done, and the same
// request may succeed in a moment, so the answer is 503 with Retry-After,
// not 500.
func storeUnreachable(err error) bool {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var oe *net.OpError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ce), errors.As(err, &oe):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// database/sql's closed pool has no exported error to compare with.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// rootOnly says whether every error of se is about the input as a whole,
// naming no field.
func rootOnly(se spec.Errors) bool {
	for _, e := range se {
		if e.Field != "" {
			return false
		}
	}
	return len(se) > 0
}

var titles = map[string]string{
	"bad-request":        "Bad request",
	"invalid-field":      "Invalid field",
	"not-found":          "Not found",
	"forbidden":          "Forbidden",
	"unauthenticated":    "Unauthenticated",
	"exists":             "Already exists",
	"conflict":           "Conflict",
	"unavailable":        "Service unavailable",
	"disk-full":          "Insufficient storage",
	"internal":           "Internal error",
	"too-large":          "Request too large",
	"rate-limited":       "Too many requests",
	"method-not-allowed": "Method not allowed",
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	p.Title = titles[p.Type]
	p.Type = "https://gigafactory.eu/problems/" + p.Type
	p.Instance = r.URL.Path
	if p.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	} else if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gigafactory"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
