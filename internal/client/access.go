package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The access process (issue 14): calls, proposals, reviews, awards and
// project members.

// post sends body to path and decodes the answer into a fresh T.
func post[T any](ctx context.Context, c *Client, path string, body any) (*T, error) {
	var out T
	if err := c.do(ctx, request{method: http.MethodPost, path: path, body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	var out T
	if err := c.do(ctx, request{method: http.MethodGet, path: path, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NewCall is the body that creates a call; ID may be left out (the
// server numbers it).
type NewCall struct {
	ID         string    `json:"id,omitempty"`
	Title      string    `json:"title"`
	Mode       string    `json:"mode"`
	State      string    `json:"state,omitempty"` // draft (default) or open
	Opens      time.Time `json:"opens,omitzero"`
	Closes     time.Time `json:"closes,omitzero"`
	Kinds      []string  `json:"kinds,omitempty"`
	Countries  []string  `json:"countries,omitempty"`
	Invited    []string  `json:"invited,omitempty"`
	Sites      []string  `json:"sites,omitempty"`
	Models     []string  `json:"models"`
	TotalHours float64   `json:"total_hours"`
	MaxHours   float64   `json:"max_hours,omitempty"`
}

// CreateCall creates a call (allocators).
func (c *Client) CreateCall(ctx context.Context, nc NewCall) (*core.Call, error) {
	return post[core.Call](ctx, c, "/calls", nc)
}

// Calls lists the calls the caller may see, only those in state when it
// is not empty.
func (c *Client) Calls(ctx context.Context, state string) ([]core.Call, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	return listAll[core.Call](ctx, c, "/calls", q)
}

// Call returns one call.
func (c *Client) Call(ctx context.Context, id string) (*core.Call, error) {
	return get[core.Call](ctx, c, "/calls/"+url.PathEscape(id))
}

// CallAction opens or closes a call: action "open" or "close".
func (c *Client) CallAction(ctx context.Context, id, action string) (*core.Call, error) {
	return post[core.Call](ctx, c, "/calls/"+url.PathEscape(id)+"/"+url.PathEscape(action), nil)
}

// Ranking returns a call's proposals ranked by their reviews (allocators).
func (c *Client) Ranking(ctx context.Context, call string) ([]access.Ranked, error) {
	return listAll[access.Ranked](ctx, c, "/calls/"+url.PathEscape(call)+"/ranking", nil)
}

// NewProposal is the body that creates a proposal.
type NewProposal = core.NewProposal

// CreateProposal writes a proposal (the project's PI).
func (c *Client) CreateProposal(ctx context.Context, np NewProposal) (*core.Proposal, error) {
	return post[core.Proposal](ctx, c, "/proposals", np)
}

// ProposalFilter narrows Proposals; empty fields match everything.
type ProposalFilter struct{ Call, Project, State string }

// Proposals lists the proposals the caller may see.
func (c *Client) Proposals(ctx context.Context, f ProposalFilter) ([]core.Proposal, error) {
	q := url.Values{}
	for k, v := range map[string]string{"call": f.Call, "project": f.Project, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return listAll[core.Proposal](ctx, c, "/proposals", q)
}

// Proposal returns one proposal.
func (c *Client) Proposal(ctx context.Context, id string) (*core.Proposal, error) {
	return get[core.Proposal](ctx, c, "/proposals/"+url.PathEscape(id))
}

// ProposalAction submits or withdraws a proposal (its PI) or rejects it
// (an allocator, with reason): action "submit", "withdraw" or "reject".
func (c *Client) ProposalAction(ctx context.Context, id, action, reason string) (*core.Proposal, error) {
	var body any
	if action == "reject" {
		body = map[string]string{"reason": reason}
	}
	return post[core.Proposal](ctx, c, "/proposals/"+url.PathEscape(id)+"/"+url.PathEscape(action), body)
}

// AssignReviewer assigns a reviewer to a proposal (allocators).
func (c *Client) AssignReviewer(ctx context.Context, proposal, reviewer string) (*core.Review, error) {
	return post[core.Review](ctx, c, "/proposals/"+url.PathEscape(proposal)+"/reviewers", map[string]string{"reviewer": reviewer})
}

// Reviews lists a proposal's reviews the caller may see.
func (c *Client) Reviews(ctx context.Context, proposal string) ([]core.Review, error) {
	return listAll[core.Review](ctx, c, "/proposals/"+url.PathEscape(proposal)+"/reviews", nil)
}

// ReviewScores are a reviewer's scores, or their conflict.
type ReviewScores = core.ReviewScores

// Review scores a proposal assigned to the caller, or declares a
// conflict with it.
func (c *Client) Review(ctx context.Context, proposal string, s ReviewScores) (*core.Review, error) {
	return post[core.Review](ctx, c, "/proposals/"+url.PathEscape(proposal)+"/review", s)
}

// DeclareConflict declares the caller's conflict with an organisation or
// a project.
func (c *Client) DeclareConflict(ctx context.Context, org, project, reason string) (*core.Conflict, error) {
	return post[core.Conflict](ctx, c, "/conflicts", core.Conflict{Org: org, Project: project, Reason: reason})
}

// NewAward is the body of an award decision or an extension.
type NewAward struct {
	Hours     map[string]float64 `json:"hours,omitempty"`
	ValidFrom time.Time          `json:"valid_from,omitzero"`
	ValidTo   time.Time          `json:"valid_to,omitzero"`
	Sites     []string           `json:"sites,omitempty"`
	Overdraft float64            `json:"overdraft,omitempty"`
}

// Award awards a proposal (allocators).
func (c *Client) Award(ctx context.Context, proposal string, a NewAward) (*core.Award, error) {
	return post[core.Award](ctx, c, "/proposals/"+url.PathEscape(proposal)+"/award", a)
}

// ExtendAward extends an award: a later ValidTo, more Hours (allocators).
func (c *Client) ExtendAward(ctx context.Context, id string, a NewAward) (*core.Award, error) {
	return post[core.Award](ctx, c, "/awards/"+url.PathEscape(id)+"/extend", a)
}

// Awards lists the awards the caller may see, of project when not empty.
func (c *Client) Awards(ctx context.Context, project string) ([]core.Award, error) {
	q := url.Values{}
	if project != "" {
		q.Set("project", project)
	}
	return listAll[core.Award](ctx, c, "/awards", q)
}

// GetAward returns one award.
func (c *Client) GetAward(ctx context.Context, id string) (*core.Award, error) {
	return get[core.Award](ctx, c, "/awards/"+url.PathEscape(id))
}

// Members lists a project's PIs and members.
func (c *Client) Members(ctx context.Context, project string) ([]core.Membership, error) {
	return listAll[core.Membership](ctx, c, "/projects/"+url.PathEscape(project)+"/members", nil)
}

// AddMember adds user to project as role (pi or member; "" member).
func (c *Client) AddMember(ctx context.Context, project, user, role string) (*core.Membership, error) {
	return post[core.Membership](ctx, c, "/projects/"+url.PathEscape(project)+"/members", map[string]string{"user": user, "role": role})
}

// RemoveMember takes user out of project.
func (c *Client) RemoveMember(ctx context.Context, project, user string) (*core.Membership, error) {
	var out core.Membership
	if err := c.do(ctx, request{method: http.MethodDelete, path: "/projects/" + url.PathEscape(project) + "/members/" + url.PathEscape(user)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
