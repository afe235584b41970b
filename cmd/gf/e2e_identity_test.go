package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/testutil"
)

// TestE2ETokens walks the contracts outside checks rely on: gf tokens
// create --name N -o json prints id and token; the token works; gf tokens
// revoke ID makes it fail at once with 401; gf whoami -o json prints name,
// org and roles; a read-scoped token reads but may not submit.
func TestE2ETokens(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var made struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
		Scope string `json:"scope"`
	}
	if err := json.Unmarshal([]byte(s.must("tokens", "create", "--name", "ci", "-o", "json")), &made); err != nil || made.ID == 0 || !strings.HasPrefix(made.Token, "gf_") || made.Scope != "admin" {
		t.Fatalf("gf tokens create -o json = %+v, %v", made, err)
	}
	elsewhere := t.TempDir()
	as := func(token string) []string {
		return cleanEnv("GF_URL="+s.url, "GF_TOKEN="+token, "GF_LOGIN_FILE="+filepath.Join(elsewhere, "none.json"))
	}
	var who map[string]any
	r := s.gfIn(elsewhere, as(made.Token), "whoami", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &who); err != nil || r.code != 0 {
		t.Fatalf("gf whoami -o json: %s", r)
	}
	roles, _ := who["roles"].([]any)
	if who["name"] != "admin" || who["org"] == nil || len(roles) == 0 || roles[0] != "admin" {
		t.Errorf("gf whoami -o json = %v: want name admin, org, roles [admin ...]", who)
	}
	if r := s.gfIn(elsewhere, as(made.Token), "whoami"); r.code != 0 || !strings.Contains(r.stdout, "SCOPE") || !strings.Contains(r.stdout, "admin") {
		t.Errorf("gf whoami: %s", r)
	}
	s.must("tokens", "revoke", strconv.FormatInt(made.ID, 10))
	r = s.gfIn(elsewhere, as(made.Token), "whoami", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid bearer token") {
		t.Errorf("gf whoami with a revoked token: %s; want refused", r)
	}
	req, _ := http.NewRequest("GET", s.url+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+made.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/whoami with a revoked token = %v, %v; want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	// Scopes and expiry; --label is --name.
	var read client.CreatedToken
	if err := json.Unmarshal([]byte(s.must("tokens", "create", "--label", "dash", "--scope", "read", "--expires", "30d", "-o", "json")), &read); err != nil || read.Label != "dash" || read.Scope != "read" || read.ExpiresAt == nil {
		t.Fatalf("gf tokens create --scope read --expires 30d = %+v, %v", read, err)
	}
	if r := s.gfIn(elsewhere, as(read.Token), "jobs", "--all"); r.code != 0 {
		t.Errorf("gf jobs with a read token: %s", r)
	}
	if r := s.gfIn(elsewhere, as(read.Token), "submit", "--", "true"); r.code != 1 || !strings.Contains(r.stderr, "scope is read") {
		t.Errorf("gf submit with a read token: %s; want refused for the scope", r)
	}
	if out := s.must("tokens", "list"); !strings.Contains(out, "dash") || !strings.Contains(out, "read") || !strings.Contains(out, "EXPIRES") {
		t.Errorf("gf tokens list:\n%s", out)
	}
	for _, bad := range [][]string{{"tokens", "create", "--expires", "yesterday"}, {"tokens", "--scope", "read"}} {
		if r := s.gf(bad...); r.code != 2 {
			t.Errorf("gf %v: %s; want a usage error", bad, r)
		}
	}

	// A service account's token, made by an administrator.
	s.must("users", "create", "pipeline", "--service")
	var svc client.CreatedToken
	if err := json.Unmarshal([]byte(s.must("tokens", "create", "--user", "pipeline", "--scope", "submit", "--name", "nightly", "-o", "json")), &svc); err != nil || svc.User != "pipeline" {
		t.Fatalf("gf tokens create --user pipeline = %+v, %v", svc, err)
	}
	r = s.gfIn(elsewhere, as(svc.Token), "whoami", "-o", "json")
	if !strings.Contains(r.stdout, `"kind": "service"`) && !strings.Contains(r.stdout, `"kind":"service"`) {
		t.Errorf("service account's whoami: %s", r)
	}
}

// TestE2ELogin: gf login runs the device-code flow against a real OpenID
// provider that gf serve trusts, keeps the ID token, and later commands
// use it.
func TestE2ELogin(t *testing.T) {
	t.Parallel()
	idp := testutil.NewOIDCProvider(t, true)
	s := startServer(t, "--oidc-issuer", idp.URL, "--oidc-client-id", "gf-cli")
	claims := idp.Claims("sub-42", "gf-cli")
	claims["preferred_username"] = "grace"
	idp.ApproveDevice(claims)

	elsewhere := t.TempDir()
	loginFile := filepath.Join(elsewhere, "cfg", "login.json")
	r := s.gfIn(elsewhere, cleanEnv("GF_URL="+s.url, "GF_LOGIN_FILE="+loginFile), "login", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stderr, "ABCD-EFGH") || !strings.Contains(r.stderr, idp.URL+"/activate") {
		t.Fatalf("gf login: %s", r)
	}
	// No GF_URL, no GF_TOKEN: the login's file says both.
	var who client.Whoami
	r = s.gfIn(elsewhere, cleanEnv("GF_LOGIN_FILE="+loginFile), "whoami", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &who); err != nil || who.Name != "grace" || who.Auth != "oidc" || len(who.Roles) == 0 || who.Roles[0] != "user" {
		t.Errorf("gf whoami after gf login = %+v: %s", who, r)
	}
}

// TestE2ELoginRefused: gf login says what to do where it cannot work.
func TestE2ELoginRefused(t *testing.T) {
	t.Parallel()
	noDevice := testutil.NewOIDCProvider(t, false)
	cases := []struct {
		name  string
		serve []string
		want  string
	}{
		{"no federated login", nil, "has no federated login"},
		{"no device endpoint", []string{"--oidc-issuer", noDevice.URL, "--oidc-client-id", "gf-cli"}, "offers no device-code login"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.serve...)
			dir := t.TempDir()
			r := s.gfIn(dir, cleanEnv("GF_URL="+s.url, "GF_LOGIN_FILE="+filepath.Join(dir, "login.json")), "login")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("gf login: %s; want %q", r, tc.want)
			}
		})
	}
}
