package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/testutil"
)

// TestE2EOIDCBrowserLogin: gf serve with --oidc-issuer and
// --oidc-client-secret logs a browser in through the provider's code flow
// (the portal's /login/oidc), as a confidential client.
func TestE2EOIDCBrowserLogin(t *testing.T) {
	t.Parallel()
	idp := testutil.NewOIDCProvider(t, false)
	s := startServer(t, "--oidc-issuer", idp.URL, "--oidc-client-id", "gf-portal", "--oidc-client-secret", "s3cret")
	idp.ApproveCode(map[string]any{"sub": "sub-7", "preferred_username": "hedy"}, "s3cret")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(s.url + "/login/oidc?next=/jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/jobs" || !strings.Contains(string(body), "hedy") {
		t.Errorf("landed on %s with %d, want /jobs as hedy:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
}
