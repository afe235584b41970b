package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/gigafactory/gigafactory/internal/client"
)

// savedLogin is what gf login keeps: the server it logged in to and the ID
// token the issuer gave, used as the bearer token until it expires.
type savedLogin struct {
	URL       string    `json:"url"`
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client_id"`
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// loginPath is where gf login keeps its token: GF_LOGIN_FILE, else
// gf/login.json in the user's configuration directory
// ($XDG_CONFIG_HOME, ~/.config).
func loginPath() (string, error) {
	if p := os.Getenv("GF_LOGIN_FILE"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for gf login's token (set GF_LOGIN_FILE): %w", err)
	}
	return filepath.Join(dir, "gf", "login.json"), nil
}

// withLogin fills a missing token from gf login's file, when that login
// was to the server ep names (or ep names none: then its server too).
func withLogin(ep endpoint) endpoint {
	path, err := loginPath()
	if err != nil {
		return ep
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return ep
	}
	var l savedLogin
	if json.Unmarshal(raw, &l) != nil || l.Token == "" || l.URL == "" {
		return ep
	}
	if ep.url != "" && strings.TrimSuffix(ep.url, "/") != strings.TrimSuffix(l.URL, "/") {
		return ep
	}
	ep.token = l.Token
	if ep.url == "" {
		ep.url, ep.from = l.URL, path
	}
	return ep
}

// loginTimeout bounds the whole device-code flow, should the issuer not
// say when its code expires.
const loginTimeout = 15 * time.Minute

func loginCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "login", "log in through the server's identity provider (OIDC device code) and keep the token for later commands", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		if err := checkOutput(env); err != nil {
			return err
		}
		return login(ctx, env)
	})
	return cmd
}

// login runs the OAuth 2.0 device authorization grant (RFC 8628) against
// the issuer the server trusts: the user opens a URL and enters a code,
// gf polls for the token, checks it with the server (whoami) and keeps it
// in loginPath (mode 0600).
func login(ctx context.Context, env *cliEnv) error {
	url := strings.TrimSpace(env.url)
	if url == "" {
		// Only the server is wanted (gf login is how one gets a token): a
		// placeholder token keeps discover from requiring one.
		ep, err := discover(&cliEnv{token: "-", data: env.data})
		if err != nil {
			return err
		}
		url = ep.url
	}
	anon, err := client.New(url, "", client.WithUserAgent("gf/"+version))
	if err != nil {
		return err
	}
	info, err := anon.OIDC(ctx)
	if err != nil {
		return fmt.Errorf("asking %s how to log in: %w", url, err)
	}
	if !info.Enabled {
		return fmt.Errorf("the server at %s has no federated login: ask its administrator for an API token (gf users create, gf tokens create) and set GF_TOKEN, or have gf serve started with --oidc-issuer", url)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	octx := oidc.ClientContext(ctx, hc)
	provider, err := oidc.NewProvider(octx, info.Issuer)
	if err != nil {
		return fmt.Errorf("reading the discovery document of %s: %w", info.Issuer, err)
	}
	endpoint := provider.Endpoint()
	if endpoint.DeviceAuthURL == "" {
		return fmt.Errorf("the identity provider %s offers no device-code login (its discovery document has no device_authorization_endpoint): get an ID token for client %q another way and set GF_TOKEN to it, or ask for an API token (gf tokens create)", info.Issuer, info.ClientID)
	}
	cfg := oauth2.Config{ClientID: info.ClientID, Endpoint: endpoint, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	octx, cancel := context.WithTimeout(octx, loginTimeout)
	defer cancel()
	da, err := cfg.DeviceAuth(octx)
	if err != nil {
		return fmt.Errorf("starting the device-code login at %s: %w", info.Issuer, err)
	}
	where := da.VerificationURIComplete
	if where == "" {
		where = da.VerificationURI
	}
	fmt.Fprintf(env.stderr, "To log in, open %s and enter the code %s\nWaiting for you to finish there...\n", where, da.UserCode)
	tok, err := cfg.DeviceAccessToken(octx, da)
	if err != nil {
		return fmt.Errorf("device-code login at %s: %w", info.Issuer, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return fmt.Errorf("the identity provider %s answered no ID token (is the openid scope allowed for client %q?)", info.Issuer, info.ClientID)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: info.ClientID}).Verify(octx, rawID)
	if err != nil {
		return fmt.Errorf("the ID token from %s does not verify: %w", info.Issuer, err)
	}
	c, err := client.New(url, rawID, client.WithUserAgent("gf/"+version))
	if err != nil {
		return err
	}
	me, err := c.Whoami(ctx)
	if err != nil {
		return fmt.Errorf("the server at %s refused the new token: %w", url, err)
	}
	path, err := loginPath()
	if err != nil {
		return err
	}
	saved := savedLogin{URL: url, Issuer: info.Issuer, ClientID: info.ClientID, User: me.Name, Token: rawID, ExpiresAt: idt.Expiry}
	raw, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(raw, '\n'), 0o600); err != nil {
		return err
	}
	v := struct {
		Name      string    `json:"name"`
		Org       string    `json:"org"`
		Roles     []string  `json:"roles"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Path      string    `json:"path"`
	}{me.Name, me.Org, me.Roles, url, idt.Expiry, path}
	return emit(env, v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Logged in to %s as %s (organisation %s, roles %s).\nThe token, kept in %s, works until %s; then run gf login again.\n",
			url, me.Name, orNone(me.Org), strings.Join(me.Roles, ", "), path, idt.Expiry.Local().Format(time.DateTime))
		return err
	})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func whoamiCommand(env *cliEnv) *cobra.Command {
	return newCommand(env, "whoami", "show who the server takes you for: name, organisation, roles, and the token's scope and expiry", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		return withClient(env, func(c *client.Client) error {
			me, err := c.Whoami(ctx)
			if err != nil {
				return err
			}
			if me.Roles == nil {
				me.Roles = []string{}
			}
			return emit(env, me, func(w io.Writer) error {
				tw := newTable(w)
				row(tw, "NAME", me.Name)
				row(tw, "ORG", orNone(me.Org))
				row(tw, "KIND", me.Kind)
				row(tw, "ROLES", strings.Join(me.Roles, ", "))
				via := me.Auth
				if t := me.Token; t != nil {
					if t.ID != 0 {
						via = fmt.Sprintf("token %d (%s)", t.ID, labelText(t.Label))
					}
					row(tw, "AUTH", via)
					row(tw, "SCOPE", t.Scope)
					expires := "never"
					if t.ExpiresAt != nil {
						expires = t.ExpiresAt.Local().Format(time.DateTime)
					}
					row(tw, "EXPIRES", expires)
				}
				return tw.Flush()
			})
		})
	})
}
