package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// insertOnce runs an INSERT ... ON CONFLICT DO NOTHING and reports whether
// it inserted the row (false: the key already existed).
func insertOnce(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) (bool, error) {
	res, err := ex.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Objects for audit entries attached with WithAudit to the write that
// draws the object's id: the write names the entry after the new row
// (token/17, proposal/EHPC-AIF-2026PG01-1001) before it commits.
const (
	NewTokenObject    = "token/new"
	NewProposalObject = "proposal/new"
)

// namePending renames, to object, the entries attached to ctx with
// WithAudit whose object is placeholder. It runs in the write's
// transaction, before the entries are appended.
func namePending(ctx context.Context, placeholder, object string) {
	p := pendingFrom(ctx)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.entries {
		if p.entries[i].Object == placeholder {
			p.entries[i].Object = object
		}
	}
}

// CreateOrg stores a new organisation; ErrExists if the name is taken.
func (db *DB) CreateOrg(ctx context.Context, o core.Org) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO orgs (name, kind, country, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			o.Name, o.Kind, o.Country, micros(o.CreatedAt))
		if err == nil && !ok {
			err = ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create org %q: %w", o.Name, err)
	}
	return nil
}

// GetOrg returns the organisation called name.
func (db *DB) GetOrg(ctx context.Context, name string) (core.Org, error) {
	var o core.Org
	var created int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT name, kind, country, created_at FROM orgs WHERE name = ?`), name).
		Scan(&o.Name, &o.Kind, &o.Country, &created)
	if err != nil {
		return core.Org{}, notFound(err, "get org %q", name)
	}
	o.CreatedAt = fromMicros(created)
	return o, nil
}

// ListOrgs returns every organisation by name.
func (db *DB) ListOrgs(ctx context.Context) ([]core.Org, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, kind, country, created_at FROM orgs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list orgs: %w", err)
	}
	defer rows.Close()
	var out []core.Org
	for rows.Next() {
		var o core.Org
		var created int64
		if err := rows.Scan(&o.Name, &o.Kind, &o.Country, &created); err != nil {
			return nil, fmt.Errorf("store: list orgs: %w", err)
		}
		o.CreatedAt = fromMicros(created)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list orgs: %w", err)
	}
	return out, nil
}

// CreateProject stores a new project; ErrNotFound if its organisation does
// not exist, ErrExists if the name is taken.
func (db *DB) CreateProject(ctx context.Context, p core.Project) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM orgs WHERE name = ?`), p.Org).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("org %q: %w", p.Org, ErrNotFound)
		}
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO projects (name, org, description, budget_accel_hrs, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			p.Name, p.Org, p.Description, p.BudgetAccelHrs, micros(p.CreatedAt))
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create project %q: %w", p.Name, err)
	}
	return nil
}

const projectCols = `name, org, description, budget_accel_hrs, created_at`

func scanProject(s interface{ Scan(...any) error }) (core.Project, error) {
	var p core.Project
	var created int64
	if err := s.Scan(&p.Name, &p.Org, &p.Description, &p.BudgetAccelHrs, &created); err != nil {
		return core.Project{}, err
	}
	p.CreatedAt = fromMicros(created)
	return p, nil
}

// GetProject returns the project called name.
func (db *DB) GetProject(ctx context.Context, name string) (core.Project, error) {
	p, err := scanProject(db.r.QueryRowContext(ctx, db.q(`SELECT `+projectCols+` FROM projects WHERE name = ?`), name))
	if err != nil {
		return core.Project{}, notFound(err, "get project %q", name)
	}
	return p, nil
}

// ListProjects returns the projects of org ("" = of every organisation) by
// name.
func (db *DB) ListProjects(ctx context.Context, org string) ([]core.Project, error) {
	query, args := `SELECT `+projectCols+` FROM projects ORDER BY name`, []any(nil)
	if org != "" {
		query, args = `SELECT `+projectCols+` FROM projects WHERE org = ? ORDER BY name`, []any{org}
	}
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list projects of %q: %w", org, err)
	}
	defer rows.Close()
	var out []core.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list projects of %q: %w", org, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list projects of %q: %w", org, err)
	}
	return out, nil
}

// CreateUser stores a new user; ErrExists if the name is taken.
func (db *DB) CreateUser(ctx context.Context, u core.User) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO users (name, email, org, role, created_at, kind, sites) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			u.Name, u.Email, u.Org, u.Role, micros(u.CreatedAt), userKind(u.Kind), userSites(u.Sites))
		if err == nil && !ok {
			err = ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Name, err)
	}
	return nil
}

const userCols = `name, email, org, role, created_at, kind, sites`

// userSites is the sites column for an operator's sites: JSON text, empty
// when there are none.
func userSites(sites []string) string {
	if len(sites) == 0 {
		return ""
	}
	return jsonText(sites)
}

// userKind is the kind stored for k: person unless it says service.
func userKind(k string) string {
	if k == "" {
		return core.UserPerson
	}
	return k
}

func scanUser(s interface{ Scan(...any) error }) (core.User, error) {
	var u core.User
	var created int64
	var sites string
	if err := s.Scan(&u.Name, &u.Email, &u.Org, &u.Role, &created, &u.Kind, &sites); err != nil {
		return core.User{}, err
	}
	u.CreatedAt = fromMicros(created)
	if err := fromJSON(sites, &u.Sites); err != nil {
		return core.User{}, fmt.Errorf("user %q's sites: %w", u.Name, err)
	}
	return u, nil
}

// GetUser returns the user called name.
func (db *DB) GetUser(ctx context.Context, name string) (core.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+userCols+` FROM users WHERE name = ?`), name))
	if err != nil {
		return core.User{}, notFound(err, "get user %q", name)
	}
	return u, nil
}

// ListUsers returns every user by name.
func (db *DB) ListUsers(ctx context.Context) ([]core.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []core.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return out, nil
}

// Token is an API token as the store keeps it (core.Token): never the
// secret, only its SHA-256 (which is not shown either) and what may be
// listed.
type Token = core.Token

// lastUsedEvery is how stale a token's last_used may get before
// Authenticate writes it again: a write per minute per token, not per
// request.
const lastUsedEvery = time.Minute

// CreateToken records the SHA-256 hash of an API token for user. The token
// itself is never stored. ErrNotFound if the user does not exist, ErrExists
// if the hash is already recorded.
func (db *DB) CreateToken(ctx context.Context, user string, tokenHash []byte, label string) error {
	_, err := db.IssueToken(ctx, user, tokenHash, label)
	return err
}

// IssueToken is CreateToken returning the new token's row, with its id.
// The token has scope admin (all its user may) and no expiry.
func (db *DB) IssueToken(ctx context.Context, user string, tokenHash []byte, label string) (Token, error) {
	return db.GrantToken(ctx, TokenGrant{User: user, Hash: tokenHash, Label: label})
}

// TokenGrant is a token to record: its user, the SHA-256 of its secret,
// its label, scope (core.ScopeRead, ScopeSubmit or ScopeAdmin; empty:
// admin) and expiry (nil: never).
type TokenGrant struct {
	User      string
	Hash      []byte
	Label     string
	Scope     string
	ExpiresAt *time.Time
}

// GrantToken records a token and returns its row, with its id.
// ErrNotFound if the user does not exist, ErrExists if the hash is
// already recorded.
func (db *DB) GrantToken(ctx context.Context, g TokenGrant) (Token, error) {
	user, tokenHash, label := g.User, g.Hash, g.Label
	if len(tokenHash) == 0 {
		return Token{}, fmt.Errorf("store: create token for %q: empty hash", user)
	}
	scope := g.Scope
	if scope == "" {
		scope = core.ScopeAdmin
	}
	t := Token{User: user, Label: label, Scope: scope, CreatedAt: fromMicros(time.Now().UnixMicro())}
	var expires sql.NullInt64
	if g.ExpiresAt != nil {
		e := fromMicros(g.ExpiresAt.UnixMicro())
		t.ExpiresAt, expires = &e, sql.NullInt64{Int64: e.UnixMicro(), Valid: true}
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM users WHERE name = ?`), user).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user: %w", ErrNotFound)
		}
		if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'token' RETURNING value`).Scan(&t.ID); err != nil {
			return err
		}
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO tokens (hash, user_name, label, created_at, id, scope, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`),
			hex.EncodeToString(tokenHash), user, label, micros(t.CreatedAt), t.ID, scope, expires)
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		namePending(ctx, NewTokenObject, fmt.Sprintf("token/%d", t.ID))
		return nil
	})
	if err != nil {
		return Token{}, fmt.Errorf("store: create token %q for %q: %w", label, user, err)
	}
	return t, nil
}

const tokenCols = `id, user_name, label, created_at, last_used, scope, expires_at`

func scanToken(s interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created int64
	var used, expires sql.NullInt64
	if err := s.Scan(&t.ID, &t.User, &t.Label, &created, &used, &t.Scope, &expires); err != nil {
		return Token{}, err
	}
	t.CreatedAt = fromMicros(created)
	t.LastUsed = fromMicrosPtr(used)
	t.ExpiresAt = fromMicrosPtr(expires)
	return t, nil
}

// GetToken returns the token with id; ErrNotFound if there is none (or it
// was revoked).
func (db *DB) GetToken(ctx context.Context, id int64) (Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, db.q(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`), id))
	if err != nil {
		return Token{}, notFound(err, "get token %d", id)
	}
	return t, nil
}

// ListTokens returns user's tokens by id.
func (db *DB) ListTokens(ctx context.Context, user string) ([]Token, error) {
	return queryList(ctx, db, fmt.Sprintf("list tokens of %q", user), scanToken, `SELECT `+tokenCols+` FROM tokens WHERE user_name = ? ORDER BY id`, user)
}

// RevokeToken deletes the token with id, so that it authenticates no
// more from the next lookup on; ErrNotFound if there is none.
func (db *DB) RevokeToken(ctx context.Context, id int64) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`DELETE FROM tokens WHERE id = ?`), id)
	})
	if err != nil {
		return fmt.Errorf("store: revoke token %d: %w", id, err)
	}
	return nil
}

// UserByToken returns the user a token hash belongs to; ErrNotFound if none.
func (db *DB) UserByToken(ctx context.Context, tokenHash []byte) (core.User, error) {
	u, _, err := db.Authenticate(ctx, tokenHash)
	return u, err
}

// ErrExpired is returned, together with ErrNotFound, for a token past its
// expiry: it authenticates no more, as if it were revoked.
var ErrExpired = errors.New("expired")

// authQuery is the one read every API request makes (Authenticate).
const authQuery = `SELECT u.name, u.email, u.org, u.role, u.created_at, u.kind, u.sites, t.id, t.label, t.created_at, t.last_used, t.scope, t.expires_at
FROM tokens t JOIN users u ON u.name = t.user_name WHERE t.hash = ?`

// prepared is a statement prepared once for a pool and reused: SQLite
// (modernc) compiles a query's text on every call otherwise, which was
// half of Authenticate's cost (6% of a single submission's server CPU of
// its 14%). database/sql prepares it again on each connection it uses.
type prepared struct {
	mu sync.Mutex
	st *sql.Stmt
}

// queryRow runs query through the prepared statement, preparing it on
// first use; when it cannot be prepared (the store unreachable), it runs
// the query as text and prepares again next time.
func (p *prepared) queryRow(ctx context.Context, pool *sql.DB, query string, args ...any) *sql.Row {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	if st == nil {
		// Not under the lock: a store that does not answer must not hold
		// every other request's authentication.
		if s, err := pool.PrepareContext(ctx, query); err == nil {
			p.mu.Lock()
			if p.st == nil {
				p.st = s
			} else {
				_ = s.Close() // another request prepared it first
			}
			st = p.st
			p.mu.Unlock()
		}
	}
	if st == nil {
		return pool.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Authenticate returns the user a token hash belongs to and the token's
// row; ErrNotFound if none, and also (with ErrExpired) if the token has
// expired. It records the token's use, at most once per minute per token,
// so that a listing can say when a token was last used.
func (db *DB) Authenticate(ctx context.Context, tokenHash []byte) (core.User, Token, error) {
	var u core.User
	var t Token
	var created, tcreated int64
	var sites string
	var id, used, expires sql.NullInt64
	err := db.auth.queryRow(ctx, db.r, db.q(authQuery), hex.EncodeToString(tokenHash)).
		Scan(&u.Name, &u.Email, &u.Org, &u.Role, &created, &u.Kind, &sites, &id, &t.Label, &tcreated, &used, &t.Scope, &expires)
	if err != nil {
		// The hash is a credential: do not echo it.
		return core.User{}, Token{}, notFound(err, "user by token")
	}
	u.CreatedAt = fromMicros(created)
	if err := fromJSON(sites, &u.Sites); err != nil {
		return core.User{}, Token{}, fmt.Errorf("store: user %q's sites: %w", u.Name, err)
	}
	t.ID, t.User, t.CreatedAt, t.LastUsed = id.Int64, u.Name, fromMicros(tcreated), fromMicrosPtr(used)
	t.ExpiresAt = fromMicrosPtr(expires)
	now := time.Now()
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return core.User{}, Token{}, fmt.Errorf("store: token %d of %q: %w (%w)", t.ID, u.Name, ErrExpired, ErrNotFound)
	}
	if t.LastUsed == nil || now.Sub(*t.LastUsed) > lastUsedEvery {
		// Best effort: a failed stamp must not refuse a valid token.
		_, _ = db.w.ExecContext(ctx, db.q(`UPDATE tokens SET last_used = ? WHERE hash = ?`), now.UnixMicro(), hex.EncodeToString(tokenHash))
		tu := fromMicros(now.UnixMicro())
		t.LastUsed = &tu
	}
	return u, t, nil
}

// UserByIdentity returns the user that the federated identity (issuer,
// subject) logged in as; ErrNotFound if it never has.
func (db *DB) UserByIdentity(ctx context.Context, issuer, subject string) (core.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, db.q(`SELECT `+prefixed("u.", userCols)+` FROM identities i JOIN users u ON u.name = i.user_name WHERE i.issuer = ? AND i.subject = ?`), issuer, subject))
	if err != nil {
		return core.User{}, notFound(err, "user by identity of %q", issuer)
	}
	return u, nil
}

// CreateFederatedUser stores u, created by the first login of the federated
// identity (issuer, subject), and the identity with it, in one
// transaction. ErrExists if the name is taken or the identity already has
// a user.
func (db *DB) CreateFederatedUser(ctx context.Context, u core.User, issuer, subject string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO users (name, email, org, role, created_at, kind) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			u.Name, u.Email, u.Org, u.Role, micros(u.CreatedAt), userKind(u.Kind))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("user: %w", ErrExists)
		}
		ok, err = insertOnce(ctx, tx, db.q(`INSERT INTO identities (issuer, subject, user_name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (issuer, subject) DO NOTHING`),
			issuer, subject, u.Name, micros(u.CreatedAt))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("identity: %w", ErrExists)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create federated user %q: %w", u.Name, err)
	}
	return nil
}

// prefixed qualifies each of the comma-separated columns cols with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// GetMeta returns the value stored under key; ErrNotFound if none.
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE name = ?`), key).Scan(&v); err != nil {
		return "", notFound(err, "get meta %q", key)
	}
	return v, nil
}

// SetMeta stores value under key, replacing any previous value.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`), key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set meta %q: %w", key, err)
	}
	return nil
}

// notFound wraps err for operation op, turning sql.ErrNoRows into
// ErrNotFound.
func notFound(err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}
