package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/testutil"
)

// TestOIDCLogin runs federated login against a real OpenID provider on
// loopback (discovery, JWKS, RS256 ID tokens): a valid token is accepted
// and mapped to a user created at its first login; a token for another
// audience, an expired one, one with a bad signature and one from an
// unknown issuer are refused with 401.
func TestOIDCLogin(t *testing.T) {
	idp := testutil.NewOIDCProvider(t, false)
	other := testutil.NewOIDCProvider(t, false) // an issuer gf does not trust
	const aud = "gigafactory-cli"
	ts := newTestServer(t, nil, WithOIDC(OIDC{Issuer: idp.URL, Audience: aud, OrgMap: map[string]string{"acme.example": "acme"}}))

	alice := idp.Claims("subject-alice", aud)
	alice["preferred_username"] = "Alice"
	alice["email"] = "alice@acme.example"
	alice["schac_home_organization"] = "acme.example"

	with := func(base map[string]any, set map[string]any) map[string]any {
		c := map[string]any{}
		for k, v := range base {
			c[k] = v
		}
		for k, v := range set {
			c[k] = v
		}
		return c
	}
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", idp.Sign(t, alice), 200},
		{"wrong audience", idp.Sign(t, with(alice, map[string]any{"aud": "another-client"})), 401},
		{"expired", idp.Sign(t, with(alice, map[string]any{"iat": time.Now().Add(-2 * hour).Unix(), "exp": time.Now().Add(-hour).Unix()})), 401},
		{"bad signature", testutil.SignJWT(t, strangerKey, "test-key-1", alice), 401},
		{"unknown issuer", other.Sign(t, with(alice, map[string]any{"iss": other.URL})), 401},
		{"unknown issuer claimed as ours", other.Sign(t, alice), 401},
		{"another issuer's name, our key", idp.Sign(t, with(alice, map[string]any{"iss": other.URL})), 401},
		{"not a JWT", "eyJhbGciOi.not-a-token.at-all", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var who core.Whoami
			var p Problem
			out := any(&who)
			if tc.want != 200 {
				out = &p
			}
			code := ts.do(t, tc.token, "GET", "/api/v1/whoami", nil, out)
			if code != tc.want {
				t.Fatalf("= %d (%s), want %d", code, p.Detail, tc.want)
			}
			if tc.want == 200 && (who.Name != "alice" || who.Org != "acme" || who.Auth != "oidc" || who.Roles[0] != core.RoleUser || who.Kind != core.UserPerson) {
				t.Errorf("whoami = %+v; want alice of acme, role user, by oidc", who)
			}
		})
	}
	u, err := ts.st.GetUser(context.Background(), "alice")
	if err != nil || u.Role != core.RoleUser || u.Org != "acme" || u.Email != "alice@acme.example" {
		t.Errorf("stored user = %+v, %v", u, err)
	}

	// The second login is the same user, found by its subject, whatever
	// the username claim says now.
	again := with(alice, map[string]any{"preferred_username": "alice-renamed"})
	var who core.Whoami
	if code := ts.do(t, idp.Sign(t, again), "GET", "/api/v1/whoami", nil, &who); code != 200 || who.Name != "alice" {
		t.Errorf("second login = %d %+v, want alice", code, who)
	}
	// Another subject claiming an existing local name does not get that
	// account.
	impostor := with(alice, map[string]any{"sub": "subject-mallory", "preferred_username": "admin"})
	var p Problem
	if code := ts.do(t, idp.Sign(t, impostor), "GET", "/api/v1/whoami", nil, &p); code != 403 {
		t.Errorf("a token naming the local admin = %d (%s), want 403", code, p.Detail)
	}
	// Without a preferred_username the subject names the user; an
	// organisation claim naming no organisation leaves the user without.
	bob := idp.Claims("bob-7", aud)
	bob["schac_home_organization"] = []any{"unknown.example"}
	if code := ts.do(t, idp.Sign(t, bob), "GET", "/api/v1/whoami", nil, &who); code != 200 || who.Name != "bob-7" || who.Org != "" {
		t.Errorf("login by sub = %d %+v", code, who)
	}
	// A federated user's session is rate-limited and audited like any.
	var audit struct {
		Items []struct{ Actor, Action, Object string }
	}
	ts.do(t, ts.admin, "GET", "/api/v1/audit", nil, &audit)
	found := false
	for _, e := range audit.Items {
		found = found || e.Action == "user.create" && e.Object == "user/alice" && e.Actor == "alice"
	}
	if !found {
		t.Errorf("no audit entry for alice's first login in %+v", audit.Items)
	}

	// What gf login asks for.
	var info oidcInfo
	if code := ts.do(t, "", "GET", "/api/v1/auth/oidc", nil, &info); code != 200 || !info.Enabled || info.Issuer != idp.URL || info.ClientID != aud || info.DeviceAuthorizationEndpoint != "" {
		t.Errorf("auth/oidc = %d %+v", code, info)
	}
}

func TestOIDCOff(t *testing.T) {
	ts := newTestServer(t, nil)
	idp := testutil.NewOIDCProvider(t, false)
	if code := ts.do(t, idp.Sign(t, idp.Claims("x", "gigafactory-cli")), "GET", "/api/v1/whoami", nil, nil); code != 401 {
		t.Errorf("a JWT without federated login = %d, want 401", code)
	}
	var info oidcInfo
	if code := ts.do(t, "", "GET", "/api/v1/auth/oidc", nil, &info); code != 200 || info.Enabled || info.Issuer != "" {
		t.Errorf("auth/oidc without federated login = %d %+v, want 200, not enabled", code, info)
	}
}
