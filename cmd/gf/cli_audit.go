package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/store"
)

// auditCommand is gf audit: the log, its check (online or from a data
// directory and a public key) and the signing key.
func auditCommand(env *cliEnv) *cobra.Command {
	cmd := newCommand(env, "audit", "the tamper-evident audit log: list it, verify it (offline too), print its public key", nil)
	cmd.AddCommand(auditLogCommand(env), auditVerifyCommand(env), auditKeyCommand(env))
	return cmd
}

type auditLogOpts struct {
	actor, object, action, since, until string
	max                                 int
}

func auditLogCommand(env *cliEnv) *cobra.Command {
	o := &auditLogOpts{}
	cmd := newCommand(env, "log", "list audit entries, filtered by actor, object, action and time (global admins)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		q := client.AuditQuery{Actor: o.actor, Object: o.object, Action: o.action, Max: o.max}
		now := time.Now()
		for _, f := range []struct {
			flag, v string
			to      *time.Time
		}{{"--since", o.since, &q.Since}, {"--until", o.until, &q.Until}} {
			if f.v == "" {
				continue
			}
			t, err := parseAuditTime(f.v, now)
			if err != nil {
				return usagef(env, "%s: %v", f.flag, err)
			}
			*f.to = t
		}
		return withClient(env, func(c *client.Client) error {
			es, err := c.AuditLog(ctx, q)
			if err != nil {
				return err
			}
			if es == nil {
				es = []client.AuditEntry{}
			}
			return emit(env, es, func(w io.Writer) error {
				tw := newTable(w)
				fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tOBJECT\tDETAIL")
				for _, e := range es {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), e.Actor, e.Action, e.Object, e.Detail)
				}
				return tw.Flush()
			})
		})
	})
	fs := cmd.Flags()
	fs.StringVar(&o.actor, "actor", "", "only entries by this user (- for failed logins)")
	fs.StringVar(&o.object, "object", "", "only entries about this object (job/42); ending in / every object it prefixes (award/)")
	fs.StringVar(&o.action, "action", "", "only this action (member.add); ending in . every action it prefixes (award.)")
	fs.StringVar(&o.since, "since", "", "only entries at or after this time: RFC 3339, a date (2026-12-01) or a duration ago (24h, 7d)")
	fs.StringVar(&o.until, "until", "", "only entries before this time (as --since)")
	fs.IntVar(&o.max, "max", 0, "at most this many entries (0: all)")
	return cmd
}

// parseAuditTime reads RFC 3339, a date, or a duration before now (d for
// days allowed).
func parseAuditTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days >= 0 && fmt.Sprint(days) == n {
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-12-07T10:00:00Z), a date (2026-12-07) or a duration ago (24h, 7d)", s)
}

type auditVerifyOpts struct{ publicKey, storeDSN string }

func auditVerifyCommand(env *cliEnv) *cobra.Command {
	o := &auditVerifyOpts{}
	cmd := newCommand(env, "verify", "check the audit log: the hash chain and the signed checkpoints; names the first entry edited, deleted, inserted or moved, a cut tail, and a chain recomputed without the key. Offline with --public-key (reads the store in --data, or --store)", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		if o.publicKey == "" && o.storeDSN != "" {
			return usagef(env, "--store goes with --public-key: the offline check needs the key to trust")
		}
		if o.publicKey == "" {
			return withClient(env, func(c *client.Client) error {
				v, err := c.VerifyAudit(ctx)
				if err != nil {
					return err
				}
				return reportAudit(env, v.Report, v.Error)
			})
		}
		text := o.publicKey
		if b, err := os.ReadFile(o.publicKey); err == nil {
			text = string(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return usagef(env, "--public-key: %v", err)
		}
		pub, err := store.ParseAuditPublicKey(text)
		if err != nil {
			return usagef(env, "--public-key %q: %v (give the file or the hex gf audit key printed)", o.publicKey, err)
		}
		dsn := o.storeDSN
		if dsn == "" {
			path := filepath.Join(env.data, "gf.db")
			if _, err := os.Stat(path); err != nil {
				return usagef(env, "--data %s: no store there (%v); give the data directory or --store", env.data, err)
			}
			dsn = "sqlite:" + path
		}
		st, err := store.Open(ctx, dsn)
		if err != nil {
			return err
		}
		defer st.Close()
		rep, err := st.VerifyAuditKey(ctx, pub)
		if err != nil {
			return err
		}
		msg := ""
		if err := rep.Err(); err != nil {
			msg = err.Error()
		}
		return reportAudit(env, rep, msg)
	})
	fs := cmd.Flags()
	fs.StringVar(&o.publicKey, "public-key", "", "check offline, trusting this public key: a file (hex or PEM) or 64 hex digits, as gf audit key prints")
	fs.StringVar(&o.storeDSN, "store", "", "with --public-key: the store's DSN (postgres://...); default: SQLite in DATA/gf.db")
	return cmd
}

// errAuditBroken makes gf exit non-zero after printing the findings.
var errAuditBroken = errors.New("audit log does not verify")

func reportAudit(env *cliEnv, r client.AuditReport, msg string) error {
	err := emit(env, r, func(w io.Writer) error {
		signed := "no public key given: checkpoints not checked"
		if r.KeyChecked {
			signed = fmt.Sprintf("%d checkpoints, signed through seq %d by key %s", r.Checkpoints, r.SignedThrough, r.KeyID)
		}
		if len(r.Problems) == 0 {
			_, err := fmt.Fprintf(w, "Audit log verified: %d entries, %s.\n", r.Entries, signed)
			return err
		}
		fmt.Fprintf(w, "Audit log does NOT verify: %s\n%d entries, %s.\n", msg, r.Entries, signed)
		if r.Recomputed {
			fmt.Fprintln(w, "The hash chain links up but disagrees with a signed checkpoint: it was recomputed without the signing key.")
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "SEQ\tFINDING\tDETAIL")
		for _, p := range r.Problems {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", p.Seq, p.Kind, p.Message)
		}
		if r.MoreProblems > 0 {
			fmt.Fprintf(tw, "\t\t(%d more)\n", r.MoreProblems)
		}
		return tw.Flush()
	})
	if err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		return errAuditBroken
	}
	return nil
}

func auditKeyCommand(env *cliEnv) *cobra.Command {
	return newCommand(env, "key", "print the public key that signs the audit log's checkpoints: from DATA/audit.key when present, else from the server; keep it away from the data directory to verify offline", func(ctx context.Context, env *cliEnv, args []string) error {
		if len(args) > 0 {
			return errUsage
		}
		path := filepath.Join(env.data, store.AuditKeyFile)
		if b, err := os.ReadFile(path); err == nil {
			pub, err := store.ParseAuditPublicKey(string(b))
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return printAuditKey(env, client.AuditKey{PublicKey: store.FormatAuditPublicKey(pub), KeyID: store.AuditKeyID(pub)})
		}
		return withClient(env, func(c *client.Client) error {
			k, err := c.AuditKey(ctx)
			if err != nil {
				return err
			}
			return printAuditKey(env, *k)
		})
	})
}

func printAuditKey(env *cliEnv, k client.AuditKey) error {
	return emit(env, k, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, k.PublicKey)
		return err
	})
}

// auditServeOptions are gf serve's audit flags.
type auditServeOptions struct {
	every    int
	interval time.Duration
}

func (o *auditServeOptions) flags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&o.every, "audit-checkpoint-every", store.DefaultCheckpointEvery, "sign an audit checkpoint every this many entries")
	fs.DurationVar(&o.interval, "audit-checkpoint-interval", 5*time.Minute, "and sign one this often when entries were written since (0: only by count)")
}

// startAudit loads (or creates, at first start) DATA/audit.key, installs
// it as the store's checkpoint signer and records the configuration loaded.
// It returns what to tell the operator: the public key at first start.
func (o *auditServeOptions) startAudit(ctx context.Context, st *store.DB, dir string, cfg *config.Config, source string) (string, error) {
	if o.every <= 0 {
		return "", fmt.Errorf("--audit-checkpoint-every must be at least 1")
	}
	if o.interval < 0 {
		return "", fmt.Errorf("--audit-checkpoint-interval must not be negative")
	}
	path := filepath.Join(dir, store.AuditKeyFile)
	key, created, err := store.LoadOrCreateAuditKey(path)
	if err != nil {
		return "", err
	}
	st.SetAuditSigner(key, o.every)
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("config hash: %w", err)
	}
	sum := sha256.Sum256(b)
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: "gf", Action: "config.load", Object: "config/" + source,
		Detail: fmt.Sprintf("sha256 %x, %d sites", sum, len(cfg.Sites))}); err != nil {
		return "", err
	}
	if !created {
		return "", nil
	}
	pub := key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("Audit checkpoints are signed with %s. Its public key (gf audit key prints it again; keep a copy elsewhere to verify offline):\n\n  %s\n\n", path, store.FormatAuditPublicKey(pub)), nil
}

// runAuditCheckpoints signs the log every interval until ctx ends.
func (o *auditServeOptions) runAuditCheckpoints(ctx context.Context, st *store.DB, log *slog.Logger) {
	if o.interval <= 0 {
		return
	}
	st.RunAuditCheckpoints(ctx, o.interval, func(err error) { log.Warn("audit checkpoint", "err", err) })
}
