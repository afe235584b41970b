package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Sites lists the federation's sites.
func (c *Client) Sites(ctx context.Context) ([]core.Site, error) {
	return listAll[core.Site](ctx, c, "/sites", nil)
}

// Site returns one site.
func (c *Client) Site(ctx context.Context, id string) (*core.Site, error) {
	var s core.Site
	if err := c.do(ctx, request{method: http.MethodGet, path: "/sites/" + url.PathEscape(id)}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// NewOrg is the body that creates an organisation.
type NewOrg struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`    // research, sme, startup, industry or public
	Country string `json:"country"` // ISO 3166-1 alpha-2
}

// CreateOrg creates an organisation (administrators only).
func (c *Client) CreateOrg(ctx context.Context, o NewOrg) (*core.Org, error) {
	var out core.Org
	if err := c.do(ctx, request{method: http.MethodPost, path: "/orgs", body: o}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Orgs lists organisations.
func (c *Client) Orgs(ctx context.Context) ([]core.Org, error) {
	return listAll[core.Org](ctx, c, "/orgs", nil)
}

// Org returns one organisation.
func (c *Client) Org(ctx context.Context, name string) (*core.Org, error) {
	var out core.Org
	if err := c.do(ctx, request{method: http.MethodGet, path: "/orgs/" + url.PathEscape(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NewProject is the body that creates a project.
type NewProject struct {
	Name           string  `json:"name"`
	Org            string  `json:"org"`
	Description    string  `json:"description,omitempty"`
	BudgetAccelHrs float64 `json:"budget_accelerator_hours,omitempty"` // 0 = unlimited
}

// CreateProject creates a project of an organisation.
func (c *Client) CreateProject(ctx context.Context, p NewProject) (*core.Project, error) {
	var out core.Project
	if err := c.do(ctx, request{method: http.MethodPost, path: "/projects", body: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Projects lists projects, only those of org when it is not empty.
func (c *Client) Projects(ctx context.Context, org string) ([]core.Project, error) {
	q := url.Values{}
	if org != "" {
		q.Set("org", org)
	}
	return listAll[core.Project](ctx, c, "/projects", q)
}

// Project returns one project.
func (c *Client) Project(ctx context.Context, name string) (*core.Project, error) {
	var out core.Project
	if err := c.do(ctx, request{method: http.MethodGet, path: "/projects/" + url.PathEscape(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NewUser is the body that creates a user.
type NewUser struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Org   string `json:"org,omitempty"`
	Role  string `json:"role,omitempty"` // user (default), org-admin, admin, operator, allocator or reviewer
	Kind  string `json:"kind,omitempty"` // person (default) or service: a service account
	// Sites are the sites an operator runs (role operator only).
	Sites []string `json:"sites,omitempty"`
}

// CreatedUser is the answer to CreateUser. The token is shown only once.
type CreatedUser struct {
	User  core.User `json:"user"`
	Token string    `json:"token"`
}

// CreateUser creates a user and returns its API token, which the server
// never shows again.
func (c *Client) CreateUser(ctx context.Context, u NewUser) (*CreatedUser, error) {
	var out CreatedUser
	if err := c.do(ctx, request{method: http.MethodPost, path: "/users", body: u}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Users lists users.
func (c *Client) Users(ctx context.Context) ([]core.User, error) {
	return listAll[core.User](ctx, c, "/users", nil)
}

// User returns one user.
func (c *Client) User(ctx context.Context, name string) (*core.User, error) {
	var out core.User
	if err := c.do(ctx, request{method: http.MethodGet, path: "/users/" + url.PathEscape(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SiteAction moves a site through its lifecycle: action is drain, resume or
// down (administrators only; audited).
func (c *Client) SiteAction(ctx context.Context, id, action string) (*core.Site, error) {
	var s core.Site
	if err := c.do(ctx, request{method: http.MethodPost, path: "/sites/" + url.PathEscape(id) + "/" + url.PathEscape(action)}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Token is an API token as listed: never its secret.
type Token struct {
	core.Token
	// Current marks the token this client authenticates with.
	Current bool `json:"current"`
}

// CreatedToken is the answer to CreateToken. The secret is shown only once.
type CreatedToken struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Label     string     `json:"label"`
	Scope     string     `json:"scope,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Token     string     `json:"token"`
}

// Tokens lists the tokens of user ("" = the caller's own; another user's
// for global administrators, and for organisation administrators their
// organisation's users').
func (c *Client) Tokens(ctx context.Context, user string) ([]Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	return listAll[Token](ctx, c, "/tokens", q)
}

// CreateToken creates an API token for the caller, labelled label.
func (c *Client) CreateToken(ctx context.Context, label string) (*CreatedToken, error) {
	var out CreatedToken
	if err := c.do(ctx, request{method: http.MethodPost, path: "/tokens", body: map[string]string{"label": label}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken revokes the token with id at once; it answers the revoked
// token.
func (c *Client) RevokeToken(ctx context.Context, id int64) (*Token, error) {
	var out Token
	if err := c.do(ctx, request{method: http.MethodDelete, path: "/tokens/" + strconv.FormatInt(id, 10)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
