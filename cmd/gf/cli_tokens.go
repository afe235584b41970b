package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
)

// tokensOpts are gf tokens' flags.
type tokensOpts struct{ name, scope, expires, user string }

func tokensCommand(env *cliEnv) *cobra.Command {
	o := &tokensOpts{}
	cmd := newCommand(env, "tokens [list | create [--name N] [--scope read|submit|admin] [--expires 30d] | revoke ID | rotate-admin] [--user NAME]", "list your API tokens, create one, revoke one, or rotate the administrator's admin.token", func(ctx context.Context, env *cliEnv, args []string) error {
		creating := len(args) > 0 && args[0] == "create"
		if !creating && (o.name != "" || o.scope != "" || o.expires != "") {
			return usagef(env, "--name, --scope and --expires go with gf tokens create")
		}
		switch {
		case len(args) == 0 || args[0] == "list" && len(args) == 1:
			return withClient(env, func(c *client.Client) error { return listTokens(ctx, env, c, o.user) })
		case creating && len(args) == 1:
			opts := client.TokenOptions{Name: o.name, Scope: o.scope, User: o.user}
			if o.expires != "" {
				at, err := parseExpiry(o.expires, time.Now())
				if err != nil {
					return usagef(env, "--expires: %v", err)
				}
				opts.ExpiresAt = &at
			}
			return withClient(env, func(c *client.Client) error {
				t, err := c.CreateTokenWith(ctx, opts)
				if err != nil {
					return err
				}
				return emit(env, t, func(w io.Writer) error {
					expiry := "never expires"
					if t.ExpiresAt != nil {
						expiry = "expires " + t.ExpiresAt.Local().Format(time.DateTime)
					}
					_, err := fmt.Fprintf(w, "Created token %d for %s (scope %s, %s).\nAPI token (shown only once; store it now):\n\n  %s\n\nUse it with: export GF_TOKEN=%s\n", t.ID, t.User, t.Scope, expiry, t.Token, t.Token)
					return err
				})
			})
		case args[0] == "revoke" && len(args) == 2:
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || id <= 0 {
				return usagef(env, "invalid token id %q: want a positive number, as gf tokens lists", args[1])
			}
			return withClient(env, func(c *client.Client) error {
				t, err := c.RevokeToken(ctx, id)
				if err != nil {
					return err
				}
				return emit(env, t, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "Revoked token %d of %s (%s): it no longer authenticates.\n", t.ID, t.User, labelText(t.Label))
					return err
				})
			})
		case args[0] == "rotate-admin" && len(args) == 1:
			return rotateAdmin(ctx, env)
		}
		return errUsage
	})
	fs := cmd.Flags()
	fs.StringVar(&o.name, "name", "", "with create: what the token is for, e.g. laptop")
	fs.StringVar(&o.name, "label", "", "the same as --name")
	fs.StringVar(&o.scope, "scope", "", "with create: read (only reads), submit (also submits and cancels jobs) or admin (all you may; the default)")
	fs.StringVar(&o.expires, "expires", "", "with create: when the token stops working: a duration (30d, 12h, 2w) or a date (2027-01-31, RFC 3339); default never")
	fs.StringVar(&o.user, "user", "", "list another user's tokens, or create one for a service account (global admins; org-admins for their organisation's users)")
	return cmd
}

// parseExpiry reads --expires: a duration from now in days (30d), weeks
// (2w) or Go's units (12h, 90m), or a moment: a date (2027-01-31, midnight
// UTC) or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				break
			}
			return now.Add(time.Duration(v) * unit), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q is not in the future", s)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			if !t.After(now) {
				return time.Time{}, fmt.Errorf("%q is not in the future", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration (30d, 2w, 12h) or a date (2027-01-31, or RFC 3339), got %q", s)
}

func listTokens(ctx context.Context, env *cliEnv, c *client.Client, user string) error {
	ts, err := c.Tokens(ctx, user)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []client.Token{}
	}
	return emit(env, ts, func(w io.Writer) error {
		tw := newTable(w)
		row(tw, "ID", "USER", "LABEL", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "CURRENT")
		for _, t := range ts {
			used := "never"
			if t.LastUsed != nil {
				used = t.LastUsed.Local().Format(time.DateTime)
			}
			expires := "never"
			if t.ExpiresAt != nil {
				expires = t.ExpiresAt.Local().Format(time.DateTime)
			}
			cur := ""
			if t.Current {
				cur = "yes"
			}
			row(tw, strconv.FormatInt(t.ID, 10), t.User, t.Label, t.Scope, date(t.CreatedAt), expires, used, cur)
		}
		return tw.Flush()
	})
}

func labelText(l string) string {
	if l == "" {
		return "no label"
	}
	return "label " + strconv.Quote(l)
}

// rotateAdmin replaces DATA/admin.token with a new token and revokes the
// old one at once: the new token is created with the old, written in
// place (mode 0600), and then used to revoke the old, so that a failure on
// the way leaves a working token in the file.
func rotateAdmin(ctx context.Context, env *cliEnv) error {
	dir := env.data
	if dir == "" {
		dir = "gf-data"
	}
	path := filepath.Join(dir, adminTokenFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("rotate-admin works on a server's data directory (--data): %w", err)
	}
	oldTok := strings.TrimSpace(string(raw))
	if oldTok == "" {
		return fmt.Errorf("%s is empty", path)
	}
	ep, err := discover(&cliEnv{url: env.url, token: oldTok, data: dir})
	if err != nil {
		return err
	}
	oldC, err := client.New(ep.url, oldTok, client.WithUserAgent("gf/"+version))
	if err != nil {
		return err
	}
	ts, err := oldC.Tokens(ctx, "")
	if err != nil {
		return fmt.Errorf("reading the tokens of %s's token: %w", path, err)
	}
	oldID := int64(0)
	for _, t := range ts {
		if t.Current {
			oldID = t.ID
		}
	}
	if oldID == 0 {
		return errors.New("the server did not say which token admin.token is")
	}
	made, err := oldC.CreateToken(ctx, adminTokenFile)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(made.Token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the new token (token %d, not yet in use; the old one still works): %w", made.ID, err)
	}
	newC, err := client.New(ep.url, made.Token, client.WithUserAgent("gf/"+version))
	if err != nil {
		return err
	}
	if _, err := newC.RevokeToken(ctx, oldID); err != nil {
		return fmt.Errorf("new token %d written to %s, but revoking the old token %d failed: %w", made.ID, path, oldID, err)
	}
	v := struct {
		Path    string `json:"path"`
		Revoked int64  `json:"revoked"`
		Created int64  `json:"created"`
	}{path, oldID, made.ID}
	return emit(env, v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Rotated %s: token %d revoked, token %d written (mode 0600).\n", path, oldID, made.ID)
		return err
	})
}
