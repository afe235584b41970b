package client

import (
	"context"
	"github.com/gigafactory/gigafactory/internal/core"
	"net/http"
	"time"
)

// TokenOptions say what token CreateTokenWith makes.
type TokenOptions struct {
	// Name labels the token (what it is for: laptop, ci).
	Name string
	// Scope is read, submit or admin ("" = admin: all the user may).
	Scope string
	// ExpiresAt is when the token stops working; nil: never.
	ExpiresAt *time.Time
	// User is the service account the token is for ("" = the caller);
	// its organisation's administrators may make its tokens.
	User string
}

// CreateTokenWith creates an API token as o says. The secret is in the
// answer only.
func (c *Client) CreateTokenWith(ctx context.Context, o TokenOptions) (*CreatedToken, error) {
	body := struct {
		Label     string     `json:"label"`
		Scope     string     `json:"scope,omitempty"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
		User      string     `json:"user,omitempty"`
	}{o.Name, o.Scope, o.ExpiresAt, o.User}
	var out CreatedToken
	if err := c.do(ctx, request{method: http.MethodPost, path: "/tokens", body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Whoami is the caller as the server knows them (GET /api/v1/whoami).
type Whoami = core.Whoami

// WhoamiToken is the credential a Whoami request came with.
type WhoamiToken = core.WhoamiToken

// Whoami returns the caller.
func (c *Client) Whoami(ctx context.Context) (*Whoami, error) {
	var out Whoami
	if err := c.do(ctx, request{method: http.MethodGet, path: "/whoami"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OIDCInfo is the server's federated login (GET /api/v1/auth/oidc).
type OIDCInfo struct {
	// Enabled says whether the server accepts federated logins.
	Enabled  bool   `json:"enabled"`
	Issuer   string `json:"issuer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// DeviceAuthorizationEndpoint is the issuer's, when it has one.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
}

// OIDC returns the server's federated login settings; it needs no token.
func (c *Client) OIDC(ctx context.Context) (*OIDCInfo, error) {
	var out OIDCInfo
	if err := c.do(ctx, request{method: http.MethodGet, path: "/auth/oidc"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
