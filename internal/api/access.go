package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// The access process's routes (issue 14; rules in package access): calls
// (allocators), proposals (a project's PI), reviews (the assigned
// reviewers), rankings and awards (allocators), project members (the PI).
// Who sees what:
//   - a call: everyone once it is open; a draft only allocators;
//   - a proposal, its reviews and its award: allocators and global admins;
//     the project's PI and members and its organisation's org-admin; a
//     reviewer the proposals assigned to them (and only their own review).
//     Anyone else gets 404, as for a missing one.

// maxAbstract bounds a proposal's abstract and a review's comments.
const maxAbstract = 16 << 10

// accessErr turns a refusal of package access into the API's error: a
// named field 422, a reviewer refused 422 naming reviewer, a state 409.
func accessErr(err error) error {
	var fe *access.FieldError
	var rf *access.Refusal
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return invalidField(fe.Field, "%s", fe.Detail)
	case errors.As(err, &rf):
		return invalidField("reviewer", "%s (%s)", rf.Detail, rf.Code)
	case errors.Is(err, access.ErrState):
		return conflict("%s", strings.TrimSuffix(err.Error(), ": "+access.ErrState.Error()))
	}
	return err
}

// ---- calls

func (s *Server) createCall(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if err := requireAllocator(u); err != nil {
		return err
	}
	var c core.Call
	if err := decodeStrict(r, &c); err != nil {
		return err
	}
	if err := checkText("title", c.Title, maxQueryValue, false); err != nil {
		return err
	}
	if err := access.CheckCall(c); err != nil {
		return accessErr(err)
	}
	if c.Opens.IsZero() {
		c.Opens = time.Now().UTC()
	}
	if c.ID == "" {
		id, err := s.nextCallID(ctx, c)
		if err != nil {
			return err
		}
		c.ID = id
	} else if mode, _, _, err := access.ParseCallID(c.ID); err != nil {
		return accessErr(err)
	} else if mode != c.Mode {
		return invalidField("id", "%s is a %s id, the call is %s", c.ID, mode, c.Mode)
	}
	if c.State == "" {
		c.State = core.CallDraft
	}
	if c.State != core.CallDraft && c.State != core.CallOpen {
		return invalidField("state", "a new call is draft or open, got %q", c.State)
	}
	c.CreatedAt, c.CreatedBy = time.Now().UTC(), u.Name
	actx := s.auditCtx(ctx, "call.create", "call/"+c.ID, fmt.Sprintf("mode %s, %g hours, %s", c.Mode, c.TotalHours, c.State))
	if err := s.st.CreateCall(actx, c); errors.Is(err, store.ErrExists) {
		return exists("call %q already exists", c.ID)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

// nextCallID numbers a call after the calls of its mode and year.
func (s *Server) nextCallID(ctx context.Context, c core.Call) (string, error) {
	calls, err := s.st.ListCalls(ctx)
	if err != nil {
		return "", err
	}
	cutoff := 1
	for _, o := range calls {
		if mode, year, n, err := access.ParseCallID(o.ID); err == nil && mode == c.Mode && year == c.Opens.Year() && n >= cutoff {
			cutoff = n + 1
		}
	}
	id, err := access.CallID(c.Mode, c.Opens.Year(), cutoff)
	return id, accessErr(err)
}

func (s *Server) visibleCall(ctx context.Context, id string) (core.Call, error) {
	c, err := s.st.GetCall(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && c.State == core.CallDraft && !isAllocator(userFrom(ctx)) {
		return core.Call{}, notFound("no call %q", id)
	}
	return c, err
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	state := r.URL.Query().Get("state")
	if state != "" && !slices.Contains([]string{core.CallDraft, core.CallOpen, core.CallClosed}, state) {
		return invalidField("state", "want draft, open or closed, got %.64q", state)
	}
	cs, err := s.st.ListCalls(ctx)
	if err != nil {
		return err
	}
	out := []core.Call{}
	for _, c := range cs {
		if (c.State != core.CallDraft || isAllocator(userFrom(ctx))) && (state == "" || c.State == state) {
			out = append(out, c)
		}
	}
	return writeJSON(w, http.StatusOK, list[core.Call]{Items: out})
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) error {
	c, err := s.visibleCall(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) openCall(w http.ResponseWriter, r *http.Request) error {
	return s.setCallState(w, r, core.CallOpen)
}

func (s *Server) closeCall(w http.ResponseWriter, r *http.Request) error {
	return s.setCallState(w, r, core.CallClosed)
}

// setCallState opens a draft or closed call, or closes an open one
// (closing sets its cut-off to now when it had none or a later one).
func (s *Server) setCallState(w http.ResponseWriter, r *http.Request, state string) error {
	ctx := r.Context()
	if err := requireAllocator(userFrom(ctx)); err != nil {
		return err
	}
	c, err := s.visibleCall(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.State == state {
		return conflict("call %s is %s already", c.ID, state)
	}
	now := time.Now().UTC()
	switch state {
	case core.CallOpen:
		if !c.Closes.IsZero() && !now.Before(c.Closes) {
			return conflict("call %s's cut-off (%s) has passed", c.ID, c.Closes.Format(time.RFC3339))
		}
		if now.Before(c.Opens) {
			c.Opens = now
		}
	case core.CallClosed:
		if c.Closes.IsZero() || c.Closes.After(now) {
			c.Closes = now
		}
	}
	c.State = state
	actx := s.auditCtx(ctx, "call."+strings.TrimSuffix(state, "d"), "call/"+c.ID, "state "+state)
	if err := s.st.UpdateCall(actx, c); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) callRanking(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAllocator(userFrom(ctx)); err != nil {
		return err
	}
	c, err := s.visibleCall(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	ps, err := s.st.ListProposals(ctx, store.ProposalFilter{Call: c.ID})
	if err != nil {
		return err
	}
	rs, err := s.st.ListCallReviews(ctx, c.ID)
	if err != nil {
		return err
	}
	out := access.Rank(c, ps, rs)
	if out == nil {
		out = []access.Ranked{}
	}
	return writeJSON(w, http.StatusOK, list[access.Ranked]{Items: out})
}

// ---- proposals

// projectRole is u's role in project: core.ProjectPI, core.ProjectMember
// or "".
func (s *Server) projectRole(ctx context.Context, u core.User, project string) (string, error) {
	m, err := s.st.GetMember(ctx, project, u.Name)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return m.Role, err
}

func (s *Server) createProposal(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var req core.NewProposal
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"call", req.Call}, {"project", req.Project}} {
		if f.v == "" {
			return invalidField(f.name, "required")
		}
	}
	if err := checkText("title", req.Title, maxQueryValue, false); err != nil {
		return err
	}
	if err := checkText("abstract", req.Abstract, maxAbstract, true); err != nil {
		return err
	}
	c, err := s.visibleCall(ctx, req.Call)
	if errors.Is(err, store.ErrNotFound) || isNotFound(err) {
		return invalidField("call", "no call %q", req.Call)
	} else if err != nil {
		return err
	}
	proj, err := s.st.GetProject(ctx, req.Project)
	if errors.Is(err, store.ErrNotFound) || err == nil && !member(u, proj.Org) && !isAdmin(u) {
		return invalidField("project", "no project %q", req.Project)
	} else if err != nil {
		return err
	}
	role, err := s.projectRole(ctx, u, proj.Name)
	if err != nil {
		return err
	}
	if role != core.ProjectPI && !isAdmin(u) {
		return forbidden("user %s is not the principal investigator of project %s", u.Name, proj.Name)
	}
	org, err := s.st.GetOrg(ctx, proj.Org)
	if err != nil {
		return err
	}
	if err := access.Eligible(c, org); err != nil {
		return accessErr(err)
	}
	now := time.Now().UTC()
	p := core.Proposal{Call: c.ID, Project: proj.Name, Org: proj.Org, PI: u.Name, Title: req.Title, Abstract: req.Abstract,
		Hours: req.Hours, Start: req.Start, End: req.End, Residency: req.Residency, State: core.ProposalDraft, CreatedAt: now, UpdatedAt: now}
	if err := access.CheckRequest(c, p); err != nil {
		return accessErr(err)
	}
	if err := access.Accepting(c, now); err != nil {
		return accessErr(err)
	}
	if req.Submit {
		p.State, p.SubmittedAt = core.ProposalSubmitted, &now
	}
	// The proposal's id is drawn in CreateProposal's transaction, so the
	// entry names it by store.NewProposalObject until then.
	actx := s.auditCtx(ctx, "proposal.create", store.NewProposalObject, fmt.Sprintf("project %s, call %s, %g hours, %s", p.Project, p.Call, access.TotalHours(p.Hours), p.State))
	p, err = s.st.CreateProposal(actx, p, access.FirstSerial)
	if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusNotFound
}

// proposalRole is what u is to proposal p: "allocator", "pi", "member",
// "org-admin", "reviewer", or "" (p is invisible to u).
func (s *Server) proposalRole(ctx context.Context, u core.User, p core.Proposal) (string, error) {
	if isAllocator(u) {
		return "allocator", nil
	}
	role, err := s.projectRole(ctx, u, p.Project)
	if err != nil || role != "" {
		return role, err
	}
	if manages(u, p.Org) {
		return "org-admin", nil
	}
	if u.Role == core.RoleReviewer {
		if _, err := s.st.GetReview(ctx, p.ID, u.Name); err == nil {
			return "reviewer", nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}

// visibleProposal returns the proposal id and what the caller is to it;
// 404 when the caller may not see it.
func (s *Server) visibleProposal(ctx context.Context, id string) (core.Proposal, string, error) {
	p, err := s.st.GetProposal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return core.Proposal{}, "", notFound("no proposal %q", id)
	}
	if err != nil {
		return core.Proposal{}, "", err
	}
	role, err := s.proposalRole(ctx, userFrom(ctx), p)
	if err != nil {
		return core.Proposal{}, "", err
	}
	if role == "" {
		return core.Proposal{}, "", notFound("no proposal %q", id)
	}
	return p, role, nil
}

func (s *Server) listProposals(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	q := r.URL.Query()
	f := store.ProposalFilter{Call: q.Get("call"), Project: q.Get("project"), State: q.Get("state")}
	for _, p := range []struct{ name, v string }{{"call", f.Call}, {"project", f.Project}, {"state", f.State}} {
		if err := checkText(p.name, p.v, maxQueryValue, false); err != nil {
			return err
		}
	}
	if f.State != "" && !slices.Contains(access.ProposalStates, f.State) {
		return invalidField("state", "want one of %s, got %.64q", strings.Join(access.ProposalStates, ", "), f.State)
	}
	if !isAllocator(u) && u.Role == core.RoleReviewer {
		f.Reviewer = u.Name
	}
	ps, err := s.st.ListProposals(ctx, f)
	if err != nil {
		return err
	}
	out := []core.Proposal{}
	for _, p := range ps {
		role, err := s.proposalRole(ctx, u, p)
		if err != nil {
			return err
		}
		if role != "" {
			out = append(out, p)
		}
	}
	return writeJSON(w, http.StatusOK, list[core.Proposal]{Items: out})
}

func (s *Server) getProposal(w http.ResponseWriter, r *http.Request) error {
	p, _, err := s.visibleProposal(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// decision is the optional body of a rejection: why.
type decision struct {
	Reason string `json:"reason,omitempty"`
}

func (s *Server) submitProposal(w http.ResponseWriter, r *http.Request) error {
	return s.moveProposal(w, r, core.ProposalSubmitted)
}

func (s *Server) withdrawProposal(w http.ResponseWriter, r *http.Request) error {
	return s.moveProposal(w, r, core.ProposalWithdrawn)
}

func (s *Server) rejectProposal(w http.ResponseWriter, r *http.Request) error {
	return s.moveProposal(w, r, core.ProposalRejected)
}

// moveProposal submits or withdraws a proposal (its PI) or rejects it (an
// allocator, with a reason).
func (s *Server) moveProposal(w http.ResponseWriter, r *http.Request, to string) error {
	ctx := r.Context()
	u := userFrom(ctx)
	p, role, err := s.visibleProposal(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	var d decision
	if to == core.ProposalRejected {
		if r.ContentLength != 0 {
			if err := decodeStrict(r, &d); err != nil {
				return err
			}
		}
		if err := checkText("reason", d.Reason, maxAbstract, true); err != nil {
			return err
		}
		if role != "allocator" {
			return forbidden("user %s may not reject proposals: allocators only", u.Name)
		}
	} else if role != core.ProjectPI && !isAdmin(u) {
		return forbidden("user %s is not the principal investigator of project %s", u.Name, p.Project)
	}
	if err := access.Transition(p.State, to); err != nil {
		return accessErr(err)
	}
	c, err := s.st.GetCall(ctx, p.Call)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	switch to {
	case core.ProposalSubmitted:
		if err := access.Accepting(c, now); err != nil {
			return accessErr(err)
		}
		p.SubmittedAt = &now
	case core.ProposalRejected:
		reviews, err := s.st.ListReviews(ctx, p.ID, "")
		if err != nil {
			return err
		}
		if err := access.CheckDecision(c, p, reviews); err != nil {
			return accessErr(err)
		}
		p.DecidedAt, p.Decision = &now, d.Reason
	}
	p.State, p.UpdatedAt = to, now
	actx := s.auditCtx(ctx, "proposal."+map[string]string{core.ProposalSubmitted: "submit", core.ProposalWithdrawn: "withdraw", core.ProposalRejected: "reject"}[to], "proposal/"+p.ID, "state "+to)
	if err := s.st.UpdateProposal(actx, p); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// ---- reviews

// assignment is the body that assigns a reviewer.
type assignment struct {
	Reviewer string `json:"reviewer"`
}

// allocatorsProposal loads the path's proposal for an allocator's action
// (doing: "assign reviewers", "award") and decodes the body into body.
func (s *Server) allocatorsProposal(r *http.Request, doing string, body any) (core.Proposal, error) {
	u := userFrom(r.Context())
	p, role, err := s.visibleProposal(r.Context(), r.PathValue("id"))
	if err != nil {
		return core.Proposal{}, err
	}
	if role != "allocator" {
		return core.Proposal{}, forbidden("user %s may not %s: allocators only", u.Name, doing)
	}
	return p, decodeStrict(r, body)
}

func (s *Server) assignReviewer(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var a assignment
	p, err := s.allocatorsProposal(r, "assign reviewers", &a)
	if err != nil {
		return err
	}
	if a.Reviewer == "" {
		return invalidField("reviewer", "required")
	}
	if p.State != core.ProposalSubmitted && p.State != core.ProposalUnderReview {
		return conflict("proposal %s is %s: only submitted proposals are reviewed", p.ID, p.State)
	}
	rev, err := s.st.GetUser(ctx, a.Reviewer)
	if errors.Is(err, store.ErrNotFound) {
		return invalidField("reviewer", "no user %q", a.Reviewer)
	} else if err != nil {
		return err
	}
	c, err := s.st.GetCall(ctx, p.Call)
	if err != nil {
		return err
	}
	conflicts, err := s.st.ListConflicts(ctx, rev.Name)
	if err != nil {
		return err
	}
	if err := access.CheckAssignment(c, p, rev, conflicts); err != nil {
		return accessErr(err)
	}
	rv := core.Review{Proposal: p.ID, Reviewer: rev.Name, AssignedAt: time.Now().UTC(), AssignedBy: u.Name}
	// The entry commits with the assignment (AssignReview's transaction).
	actx := s.auditCtx(ctx, "review.assign", "proposal/"+p.ID, "reviewer "+rev.Name)
	if err := s.st.AssignReview(actx, rv); errors.Is(err, store.ErrExists) {
		return exists("%s already reviews proposal %s", rev.Name, p.ID)
	} else if err != nil {
		return err
	}
	if p.State == core.ProposalSubmitted {
		p.State, p.UpdatedAt = core.ProposalUnderReview, rv.AssignedAt
		if err := s.st.UpdateProposal(ctx, p); err != nil {
			return err
		}
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, rv)
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	p, role, err := s.visibleProposal(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	reviewer := ""
	if role == "reviewer" {
		reviewer = u.Name // their own only
	}
	rs, err := s.st.ListReviews(ctx, p.ID, reviewer)
	if err != nil {
		return err
	}
	out := []core.Review{}
	for _, rv := range rs {
		switch role {
		case "allocator", "reviewer":
		default:
			// The project sees the scores and comments of a decided
			// proposal, not who gave them.
			if !access.Final(p.State) || rv.SubmittedAt == nil || rv.Conflict {
				continue
			}
			rv.Reviewer, rv.AssignedBy = "", ""
		}
		out = append(out, rv)
	}
	return writeJSON(w, http.StatusOK, list[core.Review]{Items: out})
}

func (s *Server) submitReview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	p, _, err := s.visibleProposal(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	rv, err := s.st.GetReview(ctx, p.ID, u.Name)
	if errors.Is(err, store.ErrNotFound) {
		return forbidden("user %s is not assigned to review proposal %s", u.Name, p.ID)
	} else if err != nil {
		return err
	}
	var req core.ReviewScores
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if err := checkText("comments", req.Comments, maxAbstract, true); err != nil {
		return err
	}
	if err := checkText("conflict_reason", req.ConflictReason, maxAbstract, true); err != nil {
		return err
	}
	if access.Final(p.State) {
		return conflict("proposal %s is %s: reviews are closed", p.ID, p.State)
	}
	if rv.Conflict {
		return conflict("reviewer %s declared a conflict with proposal %s: %s", u.Name, p.ID, rv.ConflictReason)
	}
	now := time.Now().UTC()
	action := "review.submit"
	if req.Conflict {
		if strings.TrimSpace(req.ConflictReason) == "" {
			return invalidField("conflict_reason", "say what the conflict is")
		}
		if req.Technical != 0 || req.Scientific != 0 {
			return invalidField("conflict", "a conflicted reviewer gives no scores")
		}
		rv.Conflict, rv.ConflictReason, rv.Technical, rv.Scientific = true, req.ConflictReason, 0, 0
		action = "review.conflict"
	} else {
		c, err := s.st.GetCall(ctx, p.Call)
		if err != nil {
			return err
		}
		rv.Technical, rv.Scientific, rv.Comments = req.Technical, req.Scientific, req.Comments
		if err := access.CheckScores(access.Modes[c.Mode], rv); err != nil {
			return accessErr(err)
		}
	}
	rv.SubmittedAt = &now
	actx := s.auditCtx(ctx, action, "proposal/"+p.ID, fmt.Sprintf("reviewer %s, technical %d, scientific %d, conflict %t", u.Name, rv.Technical, rv.Scientific, rv.Conflict))
	if err := s.st.UpdateReview(actx, rv); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rv)
}

func (s *Server) declareConflict(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if !isReviewer(u) {
		return forbidden("user %s is not a reviewer", u.Name)
	}
	var c core.Conflict
	if err := decodeStrict(r, &c); err != nil {
		return err
	}
	if (c.Org == "") == (c.Project == "") {
		return invalidField("org", "name an organisation or a project (one of org and project)")
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalidField("reason", "required")
	}
	if err := checkText("reason", c.Reason, maxAbstract, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"org", c.Org}, {"project", c.Project}} {
		if err := checkText(f.name, f.v, maxQueryValue, false); err != nil {
			return err
		}
	}
	if c.Reviewer != "" && c.Reviewer != u.Name {
		return invalidField("reviewer", "one declares one's own conflicts")
	}
	c.Reviewer, c.DeclaredAt = u.Name, time.Now().UTC()
	actx := s.auditCtx(ctx, "conflict.declare", "user/"+u.Name, "org "+c.Org+", project "+c.Project)
	if err := s.st.DeclareConflict(actx, c); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listConflicts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	who := u.Name
	if isAllocator(u) {
		who = r.URL.Query().Get("reviewer")
		if err := checkText("reviewer", who, maxQueryValue, false); err != nil {
			return err
		}
	}
	cs, err := s.st.ListConflicts(ctx, who)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []core.Conflict{}
	}
	return writeJSON(w, http.StatusOK, list[core.Conflict]{Items: cs})
}

// ---- awards

// awardRequest is the body of an award decision, and of an extension
// (valid_to and hours only: the new end and the new hours per model).
type awardRequest struct {
	Hours     map[string]float64 `json:"hours"`
	ValidFrom time.Time          `json:"valid_from,omitzero"`
	ValidTo   time.Time          `json:"valid_to,omitzero"`
	Sites     []string           `json:"sites,omitempty"`
	Overdraft float64            `json:"overdraft,omitempty"`
}

func (s *Server) awardProposal(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var req awardRequest
	p, err := s.allocatorsProposal(r, "award", &req)
	if err != nil {
		return err
	}
	c, err := s.st.GetCall(ctx, p.Call)
	if err != nil {
		return err
	}
	reviews, err := s.st.ListReviews(ctx, p.ID, "")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	a := core.Award{ID: p.ID, Project: p.Project, Proposal: p.ID, Call: c.ID, Mode: c.Mode, Hours: req.Hours,
		ValidFrom: req.ValidFrom, ValidTo: req.ValidTo, Sites: req.Sites, Overdraft: req.Overdraft, CreatedAt: now, CreatedBy: u.Name}
	if a.ValidFrom.IsZero() {
		a.ValidFrom = p.Start
	}
	if a.ValidTo.IsZero() {
		a.ValidTo = p.End
	}
	if len(a.Sites) == 0 {
		a.Sites = c.Sites
	}
	before := p
	p.State, p.DecidedAt, p.UpdatedAt = core.ProposalAwarded, &now, now
	p.Decision = fmt.Sprintf("awarded %g hours", access.TotalHours(a.Hours))
	// The entry commits with the award (DecideAward's transaction).
	actx := s.auditCtx(ctx, "award.create", "award/"+a.ID, fmt.Sprintf("project %s, %g hours, %s to %s", a.Project, access.TotalHours(a.Hours), a.ValidFrom.Format(time.DateOnly), a.ValidTo.Format(time.DateOnly)))
	err = s.st.DecideAward(actx, a, p, func(awarded []core.Award) error {
		return access.CheckAward(c, before, reviews, awarded, a)
	})
	if errors.Is(err, store.ErrExists) {
		return exists("proposal %s has an award already", p.ID)
	}
	if err != nil {
		return accessErr(err)
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	// The scheduler charges and obeys the award from now on.
	if err := s.d.AwardsChanged(ctx); err != nil {
		return err
	}
	s.aiactAward(ctx, a)
	return writeJSON(w, http.StatusCreated, a)
}

// awardVisible reports whether u may see award a: allocators, the
// project's members and its organisation's org-admin.
func (s *Server) awardVisible(ctx context.Context, u core.User, a core.Award) (bool, error) {
	if isAllocator(u) {
		return true, nil
	}
	role, err := s.projectRole(ctx, u, a.Project)
	if err != nil || role != "" {
		return role != "", err
	}
	if u.Role == core.RoleOrgAdmin {
		p, err := s.st.GetProject(ctx, a.Project)
		if err != nil {
			return false, err
		}
		return manages(u, p.Org), nil
	}
	return false, nil
}

func (s *Server) listAwards(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	project := r.URL.Query().Get("project")
	if err := checkText("project", project, maxQueryValue, false); err != nil {
		return err
	}
	as, err := s.st.ListAwards(ctx, project)
	if err != nil {
		return err
	}
	out := []core.Award{}
	for _, a := range as {
		ok, err := s.awardVisible(ctx, u, a)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, a)
		}
	}
	return writeJSON(w, http.StatusOK, list[core.Award]{Items: out})
}

func (s *Server) visibleAward(ctx context.Context, id string) (core.Award, error) {
	a, err := s.st.GetAward(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return core.Award{}, notFound("no award %q", id)
	}
	if err != nil {
		return core.Award{}, err
	}
	ok, err := s.awardVisible(ctx, userFrom(ctx), a)
	if err != nil {
		return core.Award{}, err
	}
	if !ok {
		return core.Award{}, notFound("no award %q", id)
	}
	return a, nil
}

func (s *Server) getAward(w http.ResponseWriter, r *http.Request) error {
	a, err := s.visibleAward(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) extendAward(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	a, err := s.visibleAward(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !isAllocator(u) {
		return forbidden("user %s may not extend awards: allocators only", u.Name)
	}
	var req awardRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	if !req.ValidFrom.IsZero() || len(req.Sites) > 0 || req.Overdraft != 0 {
		return invalidField("valid_from", "an extension changes valid_to and hours only")
	}
	next := a
	if !req.ValidTo.IsZero() {
		next.ValidTo = req.ValidTo
	}
	if len(req.Hours) > 0 {
		next.Hours = map[string]float64{}
		for m, h := range a.Hours {
			next.Hours[m] = h
		}
		for m, h := range req.Hours {
			next.Hours[m] = h
		}
	}
	if err := access.CheckExtension(a, next); err != nil {
		return accessErr(err)
	}
	actx := s.auditCtx(ctx, "award.extend", "award/"+a.ID, fmt.Sprintf("%g hours, to %s", access.TotalHours(next.Hours), next.ValidTo.Format(time.RFC3339)))
	if err := s.st.UpdateAward(actx, next); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	// An extension releases the jobs the spent award held.
	if err := s.d.AwardsChanged(ctx); err != nil {
		return err
	}
	s.aiactAward(ctx, next)
	return writeJSON(w, http.StatusOK, next)
}

// ---- members

// visibleProject returns project name and the caller's role in it; 404
// for a project the caller may not see (another organisation's).
func (s *Server) memberProject(ctx context.Context, name string) (core.Project, string, error) {
	u := userFrom(ctx)
	p, err := s.st.GetProject(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return core.Project{}, "", notFound("no project %q", name)
	}
	if err != nil {
		return core.Project{}, "", err
	}
	role, err := s.projectRole(ctx, u, name)
	if err != nil {
		return core.Project{}, "", err
	}
	if role == "" && !member(u, p.Org) && !isAllocator(u) {
		return core.Project{}, "", notFound("no project %q", name)
	}
	return p, role, nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	p, _, err := s.memberProject(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	ms, err := s.st.ListMembers(r.Context(), p.Name)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []core.Membership{}
	}
	return writeJSON(w, http.StatusOK, list[core.Membership]{Items: ms})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	p, myRole, err := s.memberProject(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	var m core.Membership
	if err := decodeStrict(r, &m); err != nil {
		return err
	}
	if m.Role == "" {
		m.Role = core.ProjectMember
	}
	if m.Role != core.ProjectPI && m.Role != core.ProjectMember {
		return invalidField("role", "want pi or member, got %.64q", m.Role)
	}
	if m.Project != "" && m.Project != p.Name {
		return invalidField("project", "the path names project %s", p.Name)
	}
	if !canManageMembers(u, p, myRole, m.Role) {
		return forbidden("user %s may not add a %s to project %s", u.Name, m.Role, p.Name)
	}
	if m.User == "" {
		return invalidField("user", "required")
	}
	who, err := s.st.GetUser(ctx, m.User)
	if errors.Is(err, store.ErrNotFound) || err == nil && who.Org != p.Org {
		return invalidField("user", "no user %q in organisation %s", m.User, p.Org)
	} else if err != nil {
		return err
	}
	m.Project, m.AddedAt, m.AddedBy = p.Name, time.Now().UTC(), u.Name
	actx := s.auditCtx(ctx, "member.add", "project/"+p.Name, "user "+m.User+", role "+m.Role)
	if err := s.st.AddMember(actx, m); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, m)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	p, myRole, err := s.memberProject(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	m, err := s.st.GetMember(ctx, p.Name, r.PathValue("user"))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("user %q is not in project %s", r.PathValue("user"), p.Name)
	} else if err != nil {
		return err
	}
	if !canManageMembers(u, p, myRole, m.Role) {
		return forbidden("user %s may not remove a %s from project %s", u.Name, m.Role, p.Name)
	}
	actx := s.auditCtx(ctx, "member.remove", "project/"+p.Name, "user "+m.User+", role "+m.Role)
	if err := s.st.RemoveMember(actx, p.Name, m.User); err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}
