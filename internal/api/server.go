// Package api is Gigafactory's REST API v1: JSON over HTTP, bearer-token
// authentication, RFC 9457 problem documents for every error, an OpenAPI 3.1
// description of itself, and Prometheus metrics.
//
// Handlers are thin: they authenticate, authorise, decode and validate
// (package spec), then call the daemon or the store, audit the mutation and
// encode the answer. The mapping from errors to HTTP statuses is one table,
// problemFor.
package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/store"
)

// Server serves the REST API over a daemon.
type Server struct {
	d       *daemon.Daemon
	st      *store.DB
	log     *slog.Logger
	version string
	rate    *limiters
	stats   httpStats

	projMu   sync.Mutex
	projects map[string]cachedProject
}

type cachedProject struct {
	p   core.Project
	exp time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithRateLimit sets each token's request rate (default DefaultRate per
// second, bursts of DefaultBurst); a zero PerSecond turns limiting off.
func WithRateLimit(rl RateLimit) Option {
	return func(s *Server) { s.rate.cfg = rl }
}

// New returns the API server for d.
func New(d *daemon.Daemon, log *slog.Logger, version string, opts ...Option) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{d: d, st: d.Store(), log: log, version: version, projects: map[string]cachedProject{},
		rate: &limiters{cfg: RateLimit{PerSecond: DefaultRate, Burst: DefaultBurst}, m: map[string]*bucket{}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Timeouts bound how long the HTTP server waits on a client, so that a
// slow body or an idle keep-alive cannot hold a connection for long.
type Timeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	// Write bounds writing an answer; streaming routes (a followed log)
	// lift it for themselves.
	Write          time.Duration
	Idle           time.Duration // a keep-alive connection between requests
	MaxHeaderBytes int
}

// DefaultTimeouts are gf serve's.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 60 * time.Second, Write: 60 * time.Second, Idle: 120 * time.Second, MaxHeaderBytes: 64 << 10}
}

// HTTPServer returns the *http.Server that serves h with the timeouts t.
func HTTPServer(h http.Handler, t Timeouts, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeaderBytes,
	}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return srv
}

// route is one endpoint; the table drives both the mux and the OpenAPI
// document, so the two cannot disagree.
type route struct {
	method, path string
	summary      string
	public       bool
	handler      func(s *Server, w http.ResponseWriter, r *http.Request) error
	body         string // schema name of the request body, if any
	answer       string // schema name of the answer, if any
	maxBody      int64  // the body's limit in bytes; 0 means MaxBody
}

func routes() []route {
	return []route{
		{method: "GET", path: "/healthz", summary: "Liveness", public: true, handler: (*Server).healthz},
		{method: "GET", path: "/readyz", summary: "Readiness: recovery done and the scheduler loop running", public: true, handler: (*Server).readyz},
		{method: "GET", path: "/metrics", summary: "Prometheus metrics", public: true, handler: (*Server).metrics},
		{method: "GET", path: "/api/v1/openapi.json", summary: "This API's OpenAPI 3.1 document", public: true, handler: (*Server).openapi},
		{method: "GET", path: "/api/v1/sites", summary: "List sites", handler: (*Server).listSites, answer: "SiteList"},
		{method: "GET", path: "/api/v1/sites/{id}", summary: "Get a site", handler: (*Server).getSite, answer: "Site"},
		{method: "POST", path: "/api/v1/sites/{id}/{action}", summary: "Site lifecycle (global admin): action drain, resume or down", handler: (*Server).siteAction, answer: "Site"},
		{method: "POST", path: "/api/v1/orgs", summary: "Create an organisation (global admin)", handler: (*Server).createOrg, body: "Org", answer: "Org"},
		{method: "GET", path: "/api/v1/orgs", summary: "List organisations: all for a global admin, else the caller's own", handler: (*Server).listOrgs, answer: "OrgList"},
		{method: "GET", path: "/api/v1/orgs/{name}", summary: "Get an organisation (its members and global admins; 404 for others)", handler: (*Server).getOrg, answer: "Org"},
		{method: "POST", path: "/api/v1/projects", summary: "Create a project (global admin; org-admin in their organisation)", handler: (*Server).createProject, body: "Project", answer: "Project"},
		{method: "GET", path: "/api/v1/projects", summary: "List projects (?org=): all for a global admin, else the caller's organisation's", handler: (*Server).listProjects, answer: "ProjectList"},
		{method: "GET", path: "/api/v1/projects/{name}", summary: "Get a project (its organisation's members and global admins; 404 for others)", handler: (*Server).getProject, answer: "Project"},
		{method: "POST", path: "/api/v1/users", summary: "Create a user and its first API token (global admin; org-admin in their organisation)", handler: (*Server).createUser, body: "User", answer: "UserWithToken"},
		{method: "GET", path: "/api/v1/users", summary: "List users (global admin: all; org-admin: their organisation's)", handler: (*Server).listUsers, answer: "UserList"},
		{method: "GET", path: "/api/v1/users/{name}", summary: "Get a user", handler: (*Server).getUser, answer: "User"},
		{method: "POST", path: "/api/v1/jobs", summary: "Submit a job (Idempotency-Key header optional; body at most MaxJobBody)", handler: (*Server).submitJob, body: "JobSpec", answer: "Job", maxBody: MaxJobBody},
		{method: "POST", path: "/api/v1/jobs:batch", summary: "Submit many jobs in one transaction (at most MaxBatch jobs, body at most MaxBatchBody)", handler: (*Server).submitBatch, body: "JobBatch", answer: "JobList", maxBody: MaxBatchBody},
		{method: "GET", path: "/api/v1/jobs", summary: "List jobs (?state=&project=&user=&org=&site=&limit=&cursor=); a page ends at limit jobs or MaxPageBytes", handler: (*Server).listJobs, answer: "JobList"},
		{method: "GET", path: "/api/v1/jobs/{id}", summary: "Get a job, with why it waits", handler: (*Server).getJob, answer: "Job"},
		{method: "DELETE", path: "/api/v1/jobs/{id}", summary: "Cancel a job (its user, an org-admin of its organisation, a global admin)", handler: (*Server).cancelJob, answer: "Job"},
		{method: "POST", path: "/api/v1/jobs/{id}/cancel", summary: "Cancel a job", handler: (*Server).cancelJob, answer: "Job"},
		{method: "GET", path: "/api/v1/jobs/{id}/logs", summary: "A job's output (?stream=stdout|stderr&offset=&follow=true)", handler: (*Server).jobLogs},
		{method: "GET", path: "/api/v1/jobs/{id}/events", summary: "A job's history", handler: (*Server).jobEvents, answer: "EventList"},
		{method: "GET", path: "/api/v1/jobs/{id}/explain", summary: "Why a job waits or where it runs", handler: (*Server).explainJob, answer: "Explanation"},
		{method: "GET", path: "/api/v1/tokens", summary: "List API tokens, never their secrets: the caller's own, or ?user= (global admin: anyone; org-admin: their organisation's users)", handler: (*Server).listTokens, answer: "TokenList"},
		{method: "POST", path: "/api/v1/tokens", summary: "Create an API token for the caller; the secret is shown once", handler: (*Server).createToken, body: "NewToken", answer: "TokenWithSecret"},
		{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke a token at once: one's own; global admin: any; org-admin: their organisation's users'", handler: (*Server).revokeToken, answer: "Token"},
		{method: "GET", path: "/api/v1/audit", summary: "The tamper-evident audit log (global admin; ?after=&limit=&verify=true)", handler: (*Server).listAudit, answer: "AuditList"},
	}
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes() {
		rt := rt
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: 200}
			s.serve(rt, sw, r)
			s.stats.observe(rt.method+" "+rt.path, sw.status, time.Since(start))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path != "/" {
			s.writeError(w, r, notFound("no such endpoint: %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Gigafactory control plane " + s.version + "\nAPI: /api/v1 (OpenAPI: /api/v1/openapi.json)\n"))
	})
	return mux
}

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) {
	limit := rt.maxBody
	if limit == 0 {
		limit = MaxBody
	}
	if !rt.public {
		u, t, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// Counted per token, before the body is read, so that a token
		// over its rate costs no more than this answer.
		if wait := s.rate.wait(strconv.FormatInt(t.ID, 10), time.Now()); wait > 0 {
			s.writeError(w, r, tooManyRequests(wait))
			return
		}
		ctx := context.WithValue(r.Context(), userKey, u)
		r = r.WithContext(context.WithValue(ctx, tokenKey, t))
	}
	if r.ContentLength > limit {
		// Refused before a byte of it is read; the connection closes
		// rather than draining the rest.
		w.Header().Set("Connection", "close")
		s.writeError(w, r, tooLarge(limit))
		return
	}
	r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), limit: limit}
	if err := rt.handler(s, w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// limitedBody is a request body that knows its limit, so that readBody can
// say which limit was passed.
type limitedBody struct {
	io.ReadCloser
	limit int64
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (the log
// stream lifts its write deadline through it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// list is the shape of every list answer.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain")
	_, err := w.Write([]byte("ok\n"))
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if !s.d.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, err := w.Write([]byte("recovering\n"))
		return err
	}
	return s.healthz(w, r)
}

// audit records a mutation in the tamper-evident log.
func (s *Server) audit(ctx context.Context, action, object, detail string) error {
	_, err := s.st.AppendAudit(ctx, store.AuditEntry{Actor: userFrom(ctx).Name, Action: action, Object: object, Detail: detail})
	return err
}
