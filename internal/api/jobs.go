package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/jobpath"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

// DefaultProject is used when a spec names no project.
const DefaultProject = "default"

// logWriteTimeout bounds sending a job's log without follow.
const logWriteTimeout = 10 * time.Minute

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, badRequest("the request body could not be read")
	}
	return b, nil
}

// project returns a project, cached briefly: every submission checks one.
func (s *Server) project(ctx context.Context, name string) (core.Project, error) {
	now := time.Now()
	s.projMu.Lock()
	c, ok := s.projects[name]
	s.projMu.Unlock()
	if ok && now.Before(c.exp) {
		return c.p, nil
	}
	p, err := s.st.GetProject(ctx, name)
	if err != nil {
		return core.Project{}, err
	}
	s.projMu.Lock()
	s.projects[name] = cachedProject{p: p, exp: now.Add(5 * time.Second)}
	s.projMu.Unlock()
	return p, nil
}

// newJob turns a validated spec into a job for user u, checking the project
// and the user's right to charge it. field prefixes error field names.
func (s *Server) newJob(ctx context.Context, net submitNet, u core.User, sp core.JobSpec, field string) (core.Job, error) {
	if sp.Project == "" {
		sp.Project = DefaultProject
	}
	if sp.Accelerators == 0 && sp.Model != "" {
		// A model with no count asks for one, as --gres=gpu:h100 does;
		// with neither, the job is CPU-only (sched.RequestOf).
		sp.Accelerators = 1000
	}
	p, err := s.project(ctx, sp.Project)
	if lower := strings.ToLower(sp.Project); errors.Is(err, store.ErrNotFound) && lower != sp.Project {
		// Slurm keeps account names in lower case: #SBATCH -A OPEN-00-00
		// charges open-00-00.
		if p, err = s.project(ctx, lower); err == nil {
			sp.Project = lower
		}
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && !member(u, p.Org) {
		// Another organisation's project is as unknown as a missing one.
		return core.Job{}, s.unknownProject(ctx, u, sp.Project, field)
	}
	if err != nil {
		return core.Job{}, err
	}
	// The award charged, its sites and its access mode come from the
	// project's current award, never from the body.
	sp.Award, sp.AwardSites = "", nil
	if a, ok := s.d.CurrentAward(p.Name); ok {
		sp.Award, sp.AwardSites = a.ID, a.Sites
		if sp.QoS == "" && a.Mode != "" {
			sp.QoS = a.Mode
		}
	}
	if err := s.checkReservation(ctx, &sp, p.Name, field); err != nil {
		return core.Job{}, err
	}
	if sp.Site != "" && !s.siteExists(sp.Site) {
		return core.Job{}, invalidField(field+"site", "unknown site %q", sp.Site)
	}
	warnings := s.interpret(&sp)
	if err := s.checkDependency(ctx, u, sp, field); err != nil {
		return core.Job{}, err
	}
	// Models as the sites name them; then no site may be unable ever to
	// run the job (feasible.go).
	if err := checkFeasible(net, &sp, field); err != nil {
		return core.Job{}, err
	}
	if sp.WorkDir != "" || sp.Output != "" || sp.Error != "" {
		// The lexical rules now, so that a path escaping the job's
		// directory is a 422; the driver enforces them again at run time.
		if err := checkPaths(sp, s.pathRoots(sp.Site), field); err != nil {
			return core.Job{}, err
		}
	}
	name := sp.Name
	if name == "" {
		name = defaultName(sp)
	}
	return core.Job{Name: name, Project: p.Name, Org: p.Org, User: u.Name, Spec: sp, Warnings: warnings}, nil
}

// submitNet is the network a submission's jobs are checked against, read
// once a request: the sites and the broker that judges feasibility.
type submitNet struct {
	sites []core.Site
	feas  *broker.Feasibility
}

// feasCache keeps the broker Feasible applies while the sites stay the
// same: building it cost more than checking a job against it.
type feasCache struct {
	mu    sync.Mutex
	sites []core.Site
	f     *broker.Feasibility
}

// network returns the sites and their feasibility broker, rebuilt when the
// sites differ in anything but their state (which feasibility ignores).
func (s *Server) network() submitNet {
	sites := s.d.Sites()
	c := &s.feas
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil || !sameNetwork(c.sites, sites) {
		c.sites, c.f = sites, broker.NewFeasibility(sites)
	}
	return submitNet{sites: sites, feas: c.f}
}

// sameNetwork reports whether a and b are the same sites but for their
// states and loads. Pools shared by both (the daemon's copies alias its
// own) are not compared element by element.
func sameNetwork(a, b []core.Site) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.State, y.State, x.Load, y.Load = "", "", nil, nil
		if len(x.Pools) == len(y.Pools) && (len(x.Pools) == 0 || &x.Pools[0] == &y.Pools[0]) {
			x.Pools, y.Pools = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func defaultName(sp core.JobSpec) string {
	if len(sp.Command) > 0 {
		n := sp.Command[0]
		if i := strings.LastIndex(n, "/"); i >= 0 {
			n = n[i+1:]
		}
		return n
	}
	return "script"
}

// checkPaths applies jobpath's rules to workdir, output and error one by
// one, so that the problem names every path refused, each by its field.
func checkPaths(sp core.JobSpec, roots []string, prefix string) error {
	one := []core.JobSpec{
		{Name: sp.Name, WorkDir: sp.WorkDir},
		{Name: sp.Name, Output: sp.Output},
		{Name: sp.Name, Error: sp.Error},
	}
	var bad []FieldError
	for _, p := range one {
		var pe *jobpath.Error
		if err := jobpath.Validate(p, roots); errors.As(err, &pe) {
			bad = append(bad, FieldError{Field: prefix + pe.Field, Detail: pe.Msg})
		} else if err != nil {
			return err
		}
	}
	if len(bad) == 0 {
		return nil
	}
	details := make([]string, len(bad))
	for i, b := range bad {
		details[i] = b.Field + ": " + b.Detail
	}
	return &apiError{status: http.StatusUnprocessableEntity, kind: "invalid-field", detail: strings.Join(details, "\n"), fields: bad}
}

// pathRoots returns the directories an absolute workdir, output or error
// may lie under (jobpath.SiteRoots): the pinned site's, or, for a job the
// broker places, those of every site with compute (the site that runs it
// checks its own again).
func (s *Server) pathRoots(site string) []string {
	var roots []string
	for _, st := range s.d.Sites() {
		if site != "" && st.ID != site || site == "" && len(st.Pools) == 0 {
			continue
		}
		rs, err := jobpath.SiteRoots(st)
		if err != nil {
			s.log.Warn("site roots", "site", st.ID, "err", err)
			continue
		}
		for _, r := range rs {
			if !slices.Contains(roots, r) {
				roots = append(roots, r)
			}
		}
	}
	return roots
}

func (s *Server) siteExists(id string) bool {
	for _, st := range s.d.Sites() {
		if st.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	body, err := readBody(r)
	if err != nil {
		return err
	}
	sp, err := spec.ParseJSON(body)
	if err != nil {
		return err
	}
	j, err := s.newJob(ctx, s.network(), u, sp, "")
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkText("Idempotency-Key", key, maxIdempotencyKey, false); err != nil {
		return err
	}
	j.IdempotencyKey = key
	warnings := j.Warnings
	// An array is one submission of many tasks, durable together; the
	// answer is its first task, whose id is the array's.
	jobs, created, err := s.d.Submit(ctx, expandArray(j, -1))
	if err != nil {
		return err
	}
	s.aiactPlanned(ctx, jobs, created) // the AI Act ledger (aiact.go)
	status := http.StatusCreated
	if !created[0] {
		status = http.StatusOK
	}
	out := jobs[0]
	out.Warnings = warnings
	w.Header().Set("Location", "/api/v1/jobs/"+out.ID.String())
	return writeJSON(w, status, out)
}

// batchRequest is the body of POST /api/v1/jobs:batch.
type batchRequest struct {
	Jobs           []json.RawMessage `json:"jobs"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
}

func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req batchRequest
	dec := json.NewDecoder(bytes.NewReader(body)) // no copy of a body of up to 28 MB
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("invalid batch body: %v (want {\"jobs\": [spec, ...]})", err)
	}
	body = nil // the jobs' raw specs hold what is still needed
	if len(req.Jobs) == 0 {
		return invalidField("jobs", "must hold at least one job")
	}
	if len(req.Jobs) > MaxBatch {
		return invalidField("jobs", "at most %d jobs per batch, got %d", MaxBatch, len(req.Jobs))
	}
	if err := checkText("idempotency_key", req.IdempotencyKey, maxIdempotencyKey-20, false); err != nil {
		return err
	}
	jobs := make([]core.Job, len(req.Jobs))
	net := s.network() // one network for the whole batch
	var all spec.Errors
	for i, raw := range req.Jobs {
		prefix := fmt.Sprintf("jobs[%d].", i)
		if len(raw) > MaxJobBody {
			return invalidField(fmt.Sprintf("jobs[%d]", i), "a job spec is at most %d bytes, got %d", MaxJobBody, len(raw))
		}
		sp, err := spec.ParseJSON(raw)
		req.Jobs[i] = nil // parsed: let it go
		var se spec.Errors
		if errors.As(err, &se) {
			for _, e := range se {
				c := *e
				c.Field = prefix + c.Field
				all = append(all, &c)
			}
			continue
		}
		if err != nil {
			return err
		}
		j, err := s.newJob(ctx, net, u, sp, prefix)
		if err != nil {
			return err
		}
		if j.Spec.Array != nil {
			// A batch answers job for job; an array's tasks would not.
			return invalidField(prefix+"array", "submit a job array on its own (POST /api/v1/jobs), not in a batch")
		}
		if req.IdempotencyKey != "" {
			j.IdempotencyKey = req.IdempotencyKey + "#" + strconv.Itoa(i)
		}
		jobs[i] = j
	}
	if len(all) > 0 {
		return all
	}
	stored, created, err := s.d.Submit(ctx, jobs)
	if err != nil {
		return err
	}
	s.aiactPlanned(ctx, stored, created) // the AI Act ledger (aiact.go)
	for i := range stored {
		stored[i].Warnings = jobs[i].Warnings
	}
	n := 0
	for _, c := range created {
		if c {
			n++
		}
	}
	status := http.StatusCreated
	if n == 0 {
		status = http.StatusOK
	}
	return writeJSON(w, status, list[core.Job]{Items: stored})
}

// statusWait is how long fillStatus waits for the scheduler.
const statusWait = 2 * time.Second

// fillStatus adds the engine's reason and estimated start to pending jobs.
func (s *Server) fillStatus(ctx context.Context, jobs []core.Job) {
	var ids []core.JobID
	for _, j := range jobs {
		if j.State == core.StatePending {
			ids = append(ids, j.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	// Bounded: while the loop waits for the store (daemon.persist: a
	// database restarting, a full disk) a list comes back with the
	// stored reasons rather than not at all.
	ctx, cancel := context.WithTimeout(ctx, statusWait)
	defer cancel()
	st, err := s.d.Statuses(ctx, ids)
	if err != nil {
		return
	}
	for i := range jobs {
		if x, ok := st[jobs[i].ID]; ok && jobs[i].State == core.StatePending {
			if x.Reason != "" {
				jobs[i].Reason = strings.Join(x.Reasons, "; ")
				if jobs[i].Reason == "" {
					jobs[i].Reason = x.Reason
				}
			}
			jobs[i].EstimatedStart = x.EstimatedStart
		}
	}
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	q := r.URL.Query()
	f := store.JobFilter{Project: q.Get("project"), User: q.Get("user"), Org: q.Get("org"), Site: q.Get("site"), Name: q.Get("name"), Cursor: q.Get("cursor"), MaxBytes: MaxPageBytes}
	for _, k := range []string{"project", "user", "org", "site", "name", "cursor", "state", "array"} {
		if err := checkText(k, q.Get(k), maxQueryValue, false); err != nil {
			return err
		}
	}
	if v := q.Get("array"); v != "" {
		id, task, ok := parseJobRef(v)
		if !ok {
			return invalidField("array", "want an array's id (1234) or one task (1234_7), got %q", v)
		}
		f.ArrayJobID, f.ArrayTaskID = id, task
	}
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			st := core.State(strings.TrimSpace(st))
			if !st.Valid() {
				return invalidField("state", "unknown state %q (want pending, starting, running, completed, failed, cancelled or timeout)", st)
			}
			f.States = append(f.States, st)
		}
	}
	n, err := pageLimit(r)
	if err != nil {
		return err
	}
	f.Limit = n
	if sc := jobsVisible(u); !sc.all {
		// Tenant isolation: a user sees the jobs of their own
		// organisation, and another organisation is as unknown as a
		// missing one; an operator the jobs placed at their sites.
		if f.Org != "" && f.Org != sc.org {
			return notFound("no organisation %q", f.Org)
		}
		switch {
		case sc.org != "":
			f.Org = sc.org
		case len(sc.sites) > 0:
			f.Sites = sc.sites
		default:
			return writeJSON(w, http.StatusOK, list[core.Job]{Items: []core.Job{}})
		}
	}
	jobs, next, err := s.st.ListJobs(ctx, f)
	if err != nil {
		return err
	}
	s.fillStatus(ctx, jobs)
	if jobs == nil {
		jobs = []core.Job{}
	}
	return writeJSON(w, http.StatusOK, list[core.Job]{Items: jobs, NextCursor: next})
}

// jobFor loads the job of the path's {id} and checks that the caller may see it.
func (s *Server) jobFor(r *http.Request) (core.Job, error) {
	raw := r.PathValue("id")
	id, task, ok := parseJobRef(raw)
	if !ok {
		return core.Job{}, invalidField("id", "want a positive job id (1234, or 1234_7 for task 7 of array 1234), got %q", raw)
	}
	j, err := s.lookupJob(r.Context(), id, task)
	if errors.Is(err, store.ErrNotFound) {
		return core.Job{}, notFound("no job %s", raw)
	}
	if err != nil {
		return core.Job{}, err
	}
	if !canSeeJob(userFrom(r.Context()), j) {
		return core.Job{}, notFound("no job %s", raw) // do not reveal other tenants' jobs
	}
	return j, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobFor(r)
	if err != nil {
		return err
	}
	js := []core.Job{j}
	s.fillStatus(r.Context(), js)
	return writeJSON(w, http.StatusOK, js[0])
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobFor(r)
	if err != nil {
		return err
	}
	u := userFrom(r.Context())
	if !canCancelJob(u, j) {
		return forbidden("user %s may not cancel job %d of user %s: only its user, an administrator of its organisation or an operator of its site", u.Name, j.ID, j.User)
	}
	if j.ArrayTaskID != nil && j.ArrayJobID == j.ID && !strings.Contains(r.PathValue("id"), "_") {
		// scancel 1234 of an array cancels all its tasks.
		return s.cancelArray(w, r, u, j)
	}
	if j.State.Terminal() {
		return writeJSON(w, http.StatusOK, j)
	}
	// The entry commits with the job's change, in the daemon.
	out, err := s.d.CancelAudited(r.Context(), j.ID, u.Name, &store.AuditEntry{Actor: u.Name, Action: "job.cancel", Object: "job/" + j.ID.String()})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobFor(r)
	if err != nil {
		return err
	}
	evs, err := s.st.JobEvents(r.Context(), j.ID)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []core.Event{}
	}
	return writeJSON(w, http.StatusOK, list[core.Event]{Items: evs})
}

func (s *Server) explainJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobFor(r)
	if err != nil {
		return err
	}
	ex, err := s.d.Explain(r.Context(), j.ID)
	if errors.Is(err, daemon.ErrNotLeader) {
		return s.forwardToLeader(w, r) // a follower asks the leader
	}
	if err != nil {
		return err
	}
	js := []core.Job{j}
	s.fillStatus(r.Context(), js)
	return writeJSON(w, http.StatusOK, explainAnswer{Job: js[0], Known: ex.Known, Status: ex.Status, Priority: ex.Priority, Route: ex.Route})
}

// explainAnswer is the body of GET /api/v1/jobs/{id}/explain.
type explainAnswer struct {
	Job      core.Job                  `json:"job"`
	Known    bool                      `json:"known"`
	Status   *engine.Status            `json:"status,omitempty"`
	Priority *engine.PriorityBreakdown `json:"priority,omitempty"`
	Route    *engine.Route             `json:"route,omitempty"`
}

// jobLogs serves a job's output; with follow=true it streams until the job
// has ended and its output is drained.
func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) error {
	j, err := s.jobFor(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	stream := q.Get("stream")
	if stream == "" {
		stream = "stdout"
	}
	if stream != "stdout" && stream != "stderr" {
		return invalidField("stream", "want stdout or stderr, got %q", stream)
	}
	var offset int64
	if v := q.Get("offset"); v != "" {
		offset, err = strconv.ParseInt(v, 10, 64)
		if err != nil || offset < 0 {
			return invalidField("offset", "want a byte offset >= 0, got %q", v)
		}
	}
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	if j.State == core.StatePending && !follow {
		return &apiError{status: http.StatusConflict, kind: "conflict", detail: fmt.Sprintf("job %d has not started: no output yet", j.ID)}
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !follow && j.Site != "" {
		// Fail with a problem document while no status line is sent yet.
		rc, err := s.d.Logs(ctx, j, stream)
		if err != nil {
			// The driver's error may name paths of the site: log it, do
			// not show it.
			s.log.Info("logs unavailable", "job", j.ID, "stream", stream, "err", err)
			return notFound("no %s kept for job %d", stream, j.ID)
		}
		rc.Close()
	}
	// A followed log streams for as long as the job runs, and a long log
	// takes a while to send: lift the server's read deadline and lift (or,
	// without follow, lengthen) its write deadline for this request only.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	if follow {
		_ = rc.SetWriteDeadline(time.Time{})
	} else {
		_ = rc.SetWriteDeadline(time.Now().Add(logWriteTimeout))
	}
	flusher, _ := w.(http.Flusher)
	w.WriteHeader(http.StatusOK)
	for {
		if j.Site != "" {
			rc, err := s.d.Logs(ctx, j, stream)
			if err == nil {
				if offset > 0 {
					if sk, ok := rc.(io.Seeker); ok {
						_, _ = sk.Seek(offset, io.SeekStart)
					} else {
						_, _ = io.CopyN(io.Discard, rc, offset)
					}
				}
				n, _ := io.Copy(w, bufio.NewReader(rc))
				rc.Close()
				offset += n
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow || j.State.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		if j, err = s.st.GetJob(ctx, j.ID); err != nil {
			return nil
		}
	}
}
