package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/store"
)

// The audit routes, and how handlers record what they change.
//
// A handler that changes the store through one write records the change in
// the same transaction: it passes auditCtx's context to the store (or to
// the daemon method that writes), then calls auditIfNotWritten, which
// appends the entry on its own only if no transaction took it (a path that
// wrote nothing, or one through the daemon's loop). Handlers that have not
// moved to this yet call audit before the change.

// auditCtx returns ctx carrying an entry by the caller, which the next
// write transaction run with it commits together with its change.
func (s *Server) auditCtx(ctx context.Context, action, object, detail string) context.Context {
	return store.WithAudit(ctx, store.AuditEntry{Actor: userFrom(ctx).Name, Action: action, Object: object, Detail: detail})
}

// auditIfNotWritten appends the entry auditCtx attached to ctx when no
// transaction committed it.
func (s *Server) auditIfNotWritten(ctx context.Context) error {
	return s.st.CommitPendingAudit(ctx)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("verify") == "true" {
		rep, err := s.st.VerifyAuditKey(ctx, s.st.AuditPublicKey())
		if err != nil {
			return err
		}
		ans := auditVerification{Verified: rep.OK(), Checked: rep.Entries, Report: rep}
		if err := rep.Err(); err != nil {
			ans.Error = err.Error()
		}
		return writeJSON(w, http.StatusOK, ans)
	}
	f := store.AuditFilter{Actor: q.Get("actor"), Object: q.Get("object"), Action: q.Get("action")}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalidField("after", "want a sequence number >= 0, got %q", v)
		}
		f.AfterSeq = n
	}
	for _, tf := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tf.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return invalidField(tf.name, "want an RFC 3339 time (2026-12-07T10:00:00Z), got %q", v)
			}
			*tf.to = t
		}
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	f.Limit = limit
	es, err := s.st.FindAudit(ctx, f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, list[store.AuditEntry]{Items: es})
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context())); err != nil {
		return err
	}
	pub := s.st.AuditPublicKey()
	if pub == nil {
		return notFound("this server signs no audit checkpoints")
	}
	return writeJSON(w, http.StatusOK, auditKeyAnswer{PublicKey: store.FormatAuditPublicKey(pub), KeyID: store.AuditKeyID(pub)})
}

// Failed logins. Each is logged (authFailed); the audit log gets at most one
// entry per remote address a minute, which counts the failures it stands
// for, so a flood of bad tokens cannot fill the log. Beyond maxAuthAddrs
// addresses in a minute the rest share one entry, "remote/*".

const (
	authWindow   = time.Minute
	maxAuthAddrs = 4096
)

// authFailures counts failed logins per remote address in the current
// window.
type authFailures struct {
	mu     sync.Mutex
	window time.Time
	seen   map[string]int // address -> failures not yet in the audit log
}

// note counts one failure from addr and reports whether it opens a new
// entry for addr in this window, and how many failures from addr the
// previous window held back (to put in the new entry).
func (a *authFailures) note(addr string, now time.Time) (write bool, heldBack int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil || now.Sub(a.window) >= authWindow {
		prev := a.seen
		a.window, a.seen = now, map[string]int{}
		heldBack = prev[addr]
	}
	if _, ok := a.seen[addr]; !ok && len(a.seen) >= maxAuthAddrs {
		addr = "*"
	}
	n, ok := a.seen[addr]
	if !ok {
		a.seen[addr] = 0
		return true, heldBack
	}
	a.seen[addr] = n + 1
	return false, 0
}

// auditAuthFailure records a refused authentication: the remote address,
// the reason and the route, never the token.
func (s *Server) auditAuthFailure(r *http.Request, pattern, reason string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	write, held := s.authLog.note(host, time.Now())
	if !write {
		return
	}
	detail := fmt.Sprintf("reason %s, %s %s", reason, r.Method, pattern)
	if held > 0 {
		detail += fmt.Sprintf("; %d more failure(s) from this address in the minute before, not logged one by one", held)
	}
	// Not the request's context: a client that hangs up must not drop it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if _, err := s.st.AppendAudit(ctx, store.AuditEntry{Actor: "-", Action: "auth.fail", Object: "remote/" + strings.Trim(host, "[]"), Detail: detail}); err != nil {
		s.log.Warn("audit of a failed login", "err", err)
	}
}
