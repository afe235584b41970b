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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// registry is what /metrics serves (metrics.go).
	registry *prometheus.Registry
	authLog  authFailures // failed logins written to the audit log, at most one per address a minute

	oidc *oidcLogin // nil: federated login off (WithOIDC)

	projMu   sync.Mutex
	projects map[string]cachedProject
	feas     feasCache // the feasibility broker, while the sites stay the same (jobs.go)
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
	s.registry = s.newRegistry()
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
	optionalBody bool   // the body may be left out
	answer       string // schema name of the JSON answer, if any
	text         bool   // the answer is text/plain
	maxBody      int64  // the body's limit in bytes; 0 means MaxBody
	params       []param
	// ok are the success statuses (none: 200 only); fails the 4xx the
	// handler itself answers. 401 and 429 (every non-public route), 413
	// (every route) and 400 (every route with a body) come from serve
	// and decodeStrict and are added by the OpenAPI document.
	ok, fails []int
}

// param is one query or header parameter a handler reads.
type param struct {
	name, in, doc string
	schema        map[string]any
}

func query(name, doc string, schema map[string]any) param {
	return param{name: name, in: "query", doc: doc, schema: schema}
}

var (
	stringParam = map[string]any{"type": "string", "maxLength": maxQueryValue}
	limitParam  = query("limit", "page size", map[string]any{"type": "integer", "minimum": 1, "maximum": MaxPage, "default": DefaultPage})
)

func routes() []route {
	return []route{
		{method: "GET", path: "/healthz", summary: "Liveness", public: true, handler: (*Server).healthz, text: true},
		{method: "GET", path: "/readyz", summary: "Readiness: recovery done and the scheduler loop running", public: true, handler: (*Server).readyz, text: true, ok: []int{200, 503}},
		{method: "GET", path: "/metrics", summary: "Prometheus metrics", public: true, handler: (*Server).metrics, text: true},
		{method: "GET", path: "/api/v1/openapi.json", summary: "This API's OpenAPI 3.1 document", public: true, handler: (*Server).openapi, answer: "OpenAPI"},
		{method: "GET", path: "/api/v1/sites", summary: "List sites", handler: (*Server).listSites, answer: "SiteList"},
		{method: "GET", path: "/api/v1/controllers", summary: "The controllers sharing this store (gf serve on one PostgreSQL), which one leads and when each was last seen (operators, global admin)", handler: (*Server).listControllers, answer: "ControllerList", fails: []int{403}},
		{method: "GET", path: "/api/v1/sites/{id}", summary: "Get a site", handler: (*Server).getSite, answer: "Site", fails: []int{404}},
		{method: "POST", path: "/api/v1/sites/{id}/{action}", summary: "Site lifecycle (the site's operators, global admin): action drain, resume or down", handler: (*Server).siteAction, answer: "Site", fails: []int{403, 404, 422}},
		{method: "POST", path: "/api/v1/reservations", summary: "Book an advance reservation: accelerators of a site for a window, for projects (the site's operators, allocators, global admin); 422 naming the field at fault", handler: (*Server).createReservation, body: "NewReservation", answer: "Reservation", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/reservations", summary: "List advance reservations with their state (planned, draining, active, ended): operators, allocators and admins all; others their projects'", handler: (*Server).listReservations, answer: "ReservationList", fails: []int{422},
			params: []param{query("site", "only this site's", stringParam)}},
		{method: "GET", path: "/api/v1/reservations/{id}", summary: "Get an advance reservation (404 for who may not see it)", handler: (*Server).getReservation, answer: "Reservation", fails: []int{404}},
		{method: "DELETE", path: "/api/v1/reservations/{id}", summary: "Delete an advance reservation; its nodes return to ordinary use (the site's operators, allocators, global admin)", handler: (*Server).deleteReservation, answer: "Reservation", fails: []int{403, 404}},
		{method: "POST", path: "/api/v1/orgs", summary: "Create an organisation (global admin)", handler: (*Server).createOrg, body: "Org", answer: "Org", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/orgs", summary: "List organisations: all for a global admin, else the caller's own", handler: (*Server).listOrgs, answer: "OrgList"},
		{method: "GET", path: "/api/v1/orgs/{name}", summary: "Get an organisation (its members and global admins; 404 for others)", handler: (*Server).getOrg, answer: "Org", fails: []int{404}},
		{method: "POST", path: "/api/v1/projects", summary: "Create a project (global admin; org-admin in their organisation)", handler: (*Server).createProject, body: "Project", answer: "Project", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/projects", summary: "List projects: all for a global admin, else the caller's organisation's", handler: (*Server).listProjects, answer: "ProjectList", fails: []int{404, 422},
			params: []param{query("org", "only this organisation's (another organisation than the caller's: 404 unless global admin)", stringParam)}},
		{method: "GET", path: "/api/v1/projects/{name}", summary: "Get a project (its organisation's members and global admins; 404 for others)", handler: (*Server).getProject, answer: "Project", fails: []int{404}},
		{method: "GET", path: "/api/v1/projects/{name}/usage", summary: "A project's current award (awarded, used, remaining, in the award's unit-hours) and its jobs' use by site and model", handler: (*Server).projectUsage, answer: "ProjectUsage", fails: []int{404}},
		{method: "POST", path: "/api/v1/users", summary: "Create a user and its first API token (global admin; org-admin in their organisation)", handler: (*Server).createUser, body: "User", answer: "UserWithToken", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/users", summary: "List users (global admin: all; org-admin: their organisation's)", handler: (*Server).listUsers, answer: "UserList", fails: []int{403}},
		{method: "GET", path: "/api/v1/users/{name}", summary: "Get a user (me: the caller)", handler: (*Server).getUser, answer: "User", fails: []int{404}},
		{method: "POST", path: "/api/v1/jobs", summary: "Submit a job (body at most MaxJobBody); 200 with the same job when Idempotency-Key repeats", handler: (*Server).submitJob, body: "JobSpec", answer: "Job", maxBody: MaxJobBody, ok: []int{201, 200}, fails: []int{422},
			params: []param{{name: "Idempotency-Key", in: "header", doc: "a retry with the same key answers the job it created", schema: map[string]any{"type": "string", "maxLength": maxIdempotencyKey}}}},
		{method: "POST", path: "/api/v1/jobs:batch", summary: "Submit many jobs in one transaction (at most MaxBatch jobs, body at most MaxBatchBody)", handler: (*Server).submitBatch, body: "JobBatch", answer: "JobList", maxBody: MaxBatchBody, ok: []int{201, 200}, fails: []int{422}},
		{method: "POST", path: "/api/v1/jobs:cancel", summary: "Cancel many jobs (at most MaxBatch ids), each as POST /api/v1/jobs/{id}/cancel cancels one, the pending ones in one transaction; an unknown or unseen id refuses the batch (422 ids[i])", handler: (*Server).cancelBatch, body: "JobIDs", answer: "JobList", fails: []int{403, 422}},
		{method: "GET", path: "/api/v1/jobs", summary: "List jobs, newest first; a page ends at limit jobs or MaxPageBytes", handler: (*Server).listJobs, answer: "JobList", fails: []int{400, 404, 422},
			params: []param{
				query("state", "comma-separated states: pending, starting, running, completed, failed, cancelled, timeout", stringParam),
				query("project", "only this project's", stringParam),
				query("user", "only this user's", stringParam),
				query("org", "only this organisation's (another than the caller's: 404 unless global admin)", stringParam),
				query("site", "only those placed at this site", stringParam),
				query("name", "only jobs of this name", stringParam),
				query("array", "only the tasks of this job array (1234), or one task (1234_7)", stringParam),
				limitParam,
				query("cursor", "next_cursor of the previous page (400 if it is not one)", stringParam),
			}},
		{method: "GET", path: "/api/v1/jobs/{id}", summary: "Get a job, with why it waits", handler: (*Server).getJob, answer: "Job", fails: []int{404, 422}},
		{method: "DELETE", path: "/api/v1/jobs/{id}", summary: "Cancel a job (its user, an org-admin of its organisation, an operator of its site, a global admin); an array's id (1234) cancels every task and answers them as a JobList, 1234_7 one task", handler: (*Server).cancelJob, answer: "Job|JobList", fails: []int{403, 404, 409, 422}},
		{method: "POST", path: "/api/v1/jobs/{id}/cancel", summary: "Cancel a job (an array's id: every task, answered as a JobList)", handler: (*Server).cancelJob, answer: "Job|JobList", fails: []int{403, 404, 409, 422}},
		{method: "GET", path: "/api/v1/jobs/{id}/logs", summary: "A job's output; with follow it streams until the job ends (409 before it starts, without follow)", handler: (*Server).jobLogs, text: true, fails: []int{404, 409, 422},
			params: []param{
				query("stream", "which output", map[string]any{"type": "string", "enum": []any{"stdout", "stderr"}, "default": "stdout"}),
				query("offset", "bytes to skip", map[string]any{"type": "integer", "minimum": 0, "default": 0}),
				query("follow", "stream until the job ends (true or 1)", map[string]any{"type": "boolean", "default": false}),
			}},
		{method: "GET", path: "/api/v1/jobs/{id}/events", summary: "A job's history", handler: (*Server).jobEvents, answer: "EventList", fails: []int{404, 422}},
		{method: "GET", path: "/api/v1/jobs/{id}/explain", summary: "Why a job waits or where it runs", handler: (*Server).explainJob, answer: "Explanation", fails: []int{404, 422}},
		{method: "GET", path: "/api/v1/tokens", summary: "List API tokens, never their secrets", handler: (*Server).listTokens, answer: "TokenList", fails: []int{404, 422},
			params: []param{query("user", "whose (default the caller; global admin: anyone; org-admin: their organisation's users; others 404)", stringParam)}},
		{method: "POST", path: "/api/v1/tokens", summary: "Create an API token (scope read, submit or admin; optional expiry) for the caller, or for a service account the caller administers; the secret is shown once", handler: (*Server).createToken, body: "NewToken", optionalBody: true, answer: "TokenWithSecret", ok: []int{201}, fails: []int{403, 404, 422}},
		{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke a token at once: one's own; global admin: any; org-admin: their organisation's users'", handler: (*Server).revokeToken, answer: "Token", fails: []int{404, 422}},
		{method: "GET", path: "/api/v1/whoami", summary: "The caller: name, organisation, roles, and the token or federated login this request came with", handler: (*Server).whoami, answer: "Whoami"},
		{method: "GET", path: "/api/v1/auth/oidc", summary: "Whether federated login is on, and its issuer and client id, for gf login", public: true, handler: (*Server).getOIDC, answer: "OIDCInfo"},
		{method: "POST", path: "/api/v1/calls", summary: "Create a call for proposals (allocator or global admin); its id is made EuroHPC-style (EHPC-AIF-2026PG01) when left out", handler: (*Server).createCall, body: "Call", answer: "Call", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/calls", summary: "List calls: open and closed ones to everyone, drafts to allocators", handler: (*Server).listCalls, answer: "CallList", fails: []int{422},
			params: []param{query("state", "only calls in this state: draft, open or closed", stringParam)}},
		{method: "GET", path: "/api/v1/calls/{id}", summary: "Get a call (a draft: allocators only; 404 for others)", handler: (*Server).getCall, answer: "Call", fails: []int{404}},
		{method: "POST", path: "/api/v1/calls/{id}/open", summary: "Open a call to submissions (allocator)", handler: (*Server).openCall, answer: "Call", fails: []int{403, 404, 409}},
		{method: "POST", path: "/api/v1/calls/{id}/close", summary: "Close a call: its cut-off is now (allocator)", handler: (*Server).closeCall, answer: "Call", fails: []int{403, 404, 409}},
		{method: "GET", path: "/api/v1/calls/{id}/ranking", summary: "The call's proposals ranked by their reviews (allocator)", handler: (*Server).callRanking, answer: "RankingList", fails: []int{403, 404}},
		{method: "POST", path: "/api/v1/proposals", summary: "Write a proposal to a call for a project (its PI): a draft, or submitted with submit; 422 when the organisation is not eligible", handler: (*Server).createProposal, body: "NewProposal", answer: "Proposal", ok: []int{201}, fails: []int{403, 409, 422}},
		{method: "GET", path: "/api/v1/proposals", summary: "List proposals: allocators all; a reviewer those assigned; others their projects' (PI, member, org-admin)", handler: (*Server).listProposals, answer: "ProposalList", fails: []int{422},
			params: []param{query("call", "only this call's", stringParam), query("project", "only this project's", stringParam), query("state", "only in this state: draft, submitted, under-review, awarded, rejected, withdrawn", stringParam)}},
		{method: "GET", path: "/api/v1/proposals/{id}", summary: "Get a proposal (404 for who may not see it)", handler: (*Server).getProposal, answer: "Proposal", fails: []int{404}},
		{method: "POST", path: "/api/v1/proposals/{id}/submit", summary: "Submit a draft proposal while its call is open (its PI)", handler: (*Server).submitProposal, answer: "Proposal", fails: []int{403, 404, 409}},
		{method: "POST", path: "/api/v1/proposals/{id}/withdraw", summary: "Withdraw a proposal before its decision (its PI)", handler: (*Server).withdrawProposal, answer: "Proposal", fails: []int{403, 404, 409}},
		{method: "POST", path: "/api/v1/proposals/{id}/reject", summary: "Reject a proposal, with a reason (allocator)", handler: (*Server).rejectProposal, body: "Decision", optionalBody: true, answer: "Proposal", fails: []int{403, 404, 409}},
		{method: "POST", path: "/api/v1/proposals/{id}/reviewers", summary: "Assign a reviewer (allocator); 422 naming reviewer when they are of the PI's organisation or declared a conflict", handler: (*Server).assignReviewer, body: "Assignment", answer: "Review", ok: []int{201}, fails: []int{403, 404, 409, 422}},
		{method: "GET", path: "/api/v1/proposals/{id}/reviews", summary: "A proposal's reviews: allocators all; a reviewer their own; the project's once decided, without names", handler: (*Server).listReviews, answer: "ReviewList", fails: []int{404}},
		{method: "POST", path: "/api/v1/proposals/{id}/review", summary: "Score a proposal assigned to the caller, or declare a conflict with it", handler: (*Server).submitReview, body: "ReviewScores", answer: "Review", fails: []int{403, 404, 409, 422}},
		{method: "POST", path: "/api/v1/proposals/{id}/award", summary: "Award a proposal hours per model within its call's total (allocator); 422 naming hours beyond it", handler: (*Server).awardProposal, body: "NewAward", answer: "Award", ok: []int{201}, fails: []int{403, 404, 409, 422}},
		{method: "POST", path: "/api/v1/conflicts", summary: "Declare a conflict of interest with an organisation or a project (reviewer)", handler: (*Server).declareConflict, body: "Conflict", answer: "Conflict", ok: []int{201}, fails: []int{403, 422}},
		{method: "GET", path: "/api/v1/conflicts", summary: "List declared conflicts: one's own; allocators anyone's", handler: (*Server).listConflicts, answer: "ConflictList", fails: []int{422},
			params: []param{query("reviewer", "only this reviewer's (allocators)", stringParam)}},
		{method: "GET", path: "/api/v1/awards", summary: "List awards: allocators all; others their projects'", handler: (*Server).listAwards, answer: "AwardList", fails: []int{422},
			params: []param{query("project", "only this project's", stringParam)}},
		{method: "GET", path: "/api/v1/awards/{id}", summary: "Get an award (404 for who may not see it)", handler: (*Server).getAward, answer: "Award", fails: []int{404}},
		{method: "POST", path: "/api/v1/awards/{id}/extend", summary: "Extend an award: a later valid_to, more hours (allocator)", handler: (*Server).extendAward, body: "NewAward", answer: "Award", fails: []int{403, 404, 422}},
		{method: "GET", path: "/api/v1/projects/{name}/members", summary: "A project's PIs and members (its organisation, allocators; 404 for others)", handler: (*Server).listMembers, answer: "MemberList", fails: []int{404}},
		{method: "POST", path: "/api/v1/projects/{name}/members", summary: "Add a PI (global admin, org-admin) or a member (also the PI) to a project; again: change the role", handler: (*Server).addMember, body: "Member", answer: "Member", ok: []int{201}, fails: []int{403, 404, 422}},
		{method: "DELETE", path: "/api/v1/projects/{name}/members/{user}", summary: "Remove a user from a project (as addMember decides who may)", handler: (*Server).removeMember, answer: "Member", fails: []int{403, 404}},
		{method: "GET", path: "/api/v1/ai-act/models", summary: "The AI Act compute ledger's models (the caller's organisation's; global admin: all): training compute used and projected, by the hardware and architecture methods, to two significant figures", handler: (*Server).listAIActModels, answer: "AIActModelList"},
		{method: "GET", path: "/api/v1/ai-act/models/{id}", summary: "One model of the AI Act ledger (404 for another organisation's)", handler: (*Server).getAIActModel, answer: "AIActModel", fails: []int{404, 422},
			params: []param{query("org", "the model's organisation, for a global admin when several have the id", stringParam)}},
		{method: "GET", path: "/api/v1/ai-act/models/{id}/report", summary: "A model's AI Act report: the Annex XI items the platform knows (compute and its method, training time, energy, hardware) and its notifications; Markdown (text/markdown) by default, JSON with format=json", handler: (*Server).aiactReport, answer: "AIActReport", fails: []int{404, 422},
			params: []param{
				query("format", "markdown (default) or json", map[string]any{"type": "string", "enum": []any{"markdown", "json"}, "default": "markdown"}),
				query("org", "the model's organisation, for a global admin when several have the id", stringParam),
			}},
		{method: "GET", path: "/api/v1/ai-act/notifications", summary: "AI Act notifications, in the order they became known: each model's crossing of 1e23 and 1e25 FLOP (projected at the submission that made it certain, else at the run's end) and fine-tunes above one third of their base", handler: (*Server).listAIActNotifications, answer: "AIActNoticeList"},
		{method: "GET", path: "/api/v1/usage/report", summary: "Usage like sreport: meters of runs that ended in [from, to) summed by project, org, org_kind, site, model, mode or period (day, month), with energy, carbon, cost and its public/private split (global admin: all; others their organisation's)", handler: (*Server).usageReport, answer: "UsageReport", fails: []int{404, 422},
			params: []param{
				query("by", "the grouping", map[string]any{"type": "string", "enum": []any{"project", "org", "org_kind", "kind", "site", "model", "mode", "period"}, "default": "project"}),
				query("period", "with by=period: day or month", map[string]any{"type": "string", "enum": []any{"day", "month"}, "default": "month"}),
				query("from", "runs that ended at or after this time (RFC 3339 or a date)", stringParam),
				query("to", "runs that ended before this time (RFC 3339 or a date)", stringParam),
				query("org", "only this organisation's (another than the caller's: 404 unless global admin)", stringParam),
				query("project", "only this project's", stringParam),
			}},
		{method: "GET", path: "/api/v1/usage/jobs", summary: "Usage like sacct: one meter per run of a job (attempt), by end time (global admin: all; others their organisation's)", handler: (*Server).usageJobs, answer: "MeterList", fails: []int{404, 422},
			params: []param{
				query("from", "runs that ended at or after this time (RFC 3339 or a date)", stringParam),
				query("to", "runs that ended before this time (RFC 3339 or a date)", stringParam),
				query("org", "only this organisation's (another than the caller's: 404 unless global admin)", stringParam),
				query("project", "only this project's", stringParam),
				limitParam,
				query("cursor", "the next_cursor of the page before", stringParam),
			}},
		{method: "GET", path: "/api/v1/audit", summary: "The tamper-evident audit log (global admin); with verify=true, the chain's check instead", handler: (*Server).listAudit, answer: "AuditAnswer", fails: []int{403, 422},
			params: []param{
				query("after", "entries after this sequence number", map[string]any{"type": "integer", "minimum": 0, "default": 0}),
				limitParam,
				query("verify", "check the hash chain and the signed checkpoints and answer an AuditVerification", map[string]any{"type": "boolean", "default": false}),
				query("actor", "only entries by this user", stringParam),
				query("object", "only entries about this object (job/42); ending in / every object it prefixes (award/)", stringParam),
				query("action", "only this action (award.create); ending in . every action it prefixes (award.)", stringParam),
				query("since", "only entries at or after this time (RFC 3339)", map[string]any{"type": "string", "format": "date-time"}),
				query("until", "only entries before this time (RFC 3339)", map[string]any{"type": "string", "format": "date-time"}),
			}},
		{method: "GET", path: "/api/v1/audit/key", summary: "The public key that signs the audit log's checkpoints (global admin), for gf audit verify --public-key", handler: (*Server).auditKey, answer: "AuditKey", fails: []int{403, 404}},
	}
}

// Handler returns the API's http.Handler. A known path asked with a
// method it does not serve is answered 405 with Allow; an unknown path
// 404. Both are problem documents.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{} // path pattern → its methods
	for _, rt := range routes() {
		rt := rt
		methods[rt.path] = append(methods[rt.path], rt.method)
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: 200}
			s.serve(rt, sw, r)
			took := time.Since(start)
			s.stats.observe(rt.method+" "+rt.path, sw.status, took)
			s.logRequest(r, rt.path, sw, took)
		})
	}
	// The catch-all "/" below matches every method, so ServeMux never
	// answers 405 itself: paths, the same patterns without methods, finds
	// which methods a path has.
	paths := http.NewServeMux()
	for p, ms := range methods {
		allow := allowHeader(ms)
		paths.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, methodNotAllowed(r.Method, r.URL.Path, allow))
		})
	}
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw, status: 200}
		pattern := "unmatched"
		defer func() { s.logRequest(r, pattern, w, time.Since(start)) }()
		if h, p := paths.Handler(r); p != "" {
			pattern = p
			h.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path != "/" {
			s.writeError(w, r, notFound("no such endpoint: %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Gigafactory control plane " + s.version + "\nAPI: /api/v1 (OpenAPI: /api/v1/openapi.json)\n"))
	})
	return mux
}

// allowHeader lists methods for an Allow header, sorted; GET implies HEAD,
// as ServeMux serves HEAD with a GET pattern.
func allowHeader(methods []string) string {
	ms := slices.Clone(methods)
	if slices.Contains(ms, "GET") {
		ms = append(ms, "HEAD")
	}
	slices.Sort(ms)
	return strings.Join(slices.Compact(ms), ", ")
}

// logRequest writes the one line each request gets: its method, the
// route's path pattern (not the path, so that ids do not multiply the
// lines' kinds), the status, how long it took, the bytes answered and, once
// authenticated, the user. Never a header: the token stays out of logs.
func (s *Server) logRequest(r *http.Request, pattern string, w *statusWriter, took time.Duration) {
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", pattern),
		slog.Int("status", w.status),
		slog.Duration("duration", took),
		slog.Int64("bytes", w.bytes),
	}
	if w.user != "" {
		attrs = append(attrs, slog.String("user", w.user))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func (s *Server) serve(rt route, w *statusWriter, r *http.Request) {
	limit := rt.maxBody
	if limit == 0 {
		limit = MaxBody
	}
	if !rt.public {
		u, t, err := s.authenticate(r, rt.path)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.user = u.Name
		// Counted per token, before the body is read, so that a token
		// over its rate costs no more than this answer.
		if wait := s.rate.wait(rateKey(u, t), time.Now()); wait > 0 {
			s.writeError(w, r, tooManyRequests(wait))
			return
		}
		if err := checkScope(t, r.Method, rt.path); err != nil {
			s.writeError(w, r, err)
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

// statusWriter remembers what a request was answered, for its metrics
// and its log line.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64  // the body's bytes written
	user   string // the authenticated caller, if any
}

func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
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
