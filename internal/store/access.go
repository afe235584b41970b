package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// The access process's records (issue 14; rules in package access): calls,
// proposals, reviews, reviewers' conflicts, project memberships and
// awards. Lists and maps are kept as JSON text.

// jsonText encodes v for a TEXT column; nil lists and maps become "null"
// and come back nil.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings, lists and maps of numbers always encode
	}
	return string(b)
}

func fromJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// queryList runs query and scans each row with scan.
func queryList[T any](ctx context.Context, db *DB, op string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}

// execOne runs a statement that must touch exactly one row; ErrNotFound
// when it touches none.
func execOne(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) error {
	res, err := ex.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- calls

const callCols = `id, title, mode, state, opens, closes, kinds, countries, invited, sites, models, total_hours, max_hours, created_at, created_by`

func scanCall(s interface{ Scan(...any) error }) (core.Call, error) {
	var c core.Call
	var opens, closes, created int64
	var kinds, countries, invited, sites, models string
	if err := s.Scan(&c.ID, &c.Title, &c.Mode, &c.State, &opens, &closes, &kinds, &countries, &invited, &sites, &models, &c.TotalHours, &c.MaxHours, &created, &c.CreatedBy); err != nil {
		return core.Call{}, err
	}
	c.Opens, c.Closes, c.CreatedAt = fromMicros(opens), fromMicros(closes), fromMicros(created)
	for _, f := range []struct {
		s string
		v *[]string
	}{{kinds, &c.Kinds}, {countries, &c.Countries}, {invited, &c.Invited}, {sites, &c.Sites}, {models, &c.Models}} {
		if err := fromJSON(f.s, f.v); err != nil {
			return core.Call{}, err
		}
	}
	return c, nil
}

// CreateCall stores a new call; ErrExists if its id is taken.
func (db *DB) CreateCall(ctx context.Context, c core.Call) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO calls (`+callCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			c.ID, c.Title, c.Mode, c.State, micros(c.Opens), micros(c.Closes), jsonText(c.Kinds), jsonText(c.Countries), jsonText(c.Invited),
			jsonText(c.Sites), jsonText(c.Models), c.TotalHours, c.MaxHours, micros(c.CreatedAt), c.CreatedBy)
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO call_serials (call_id, next_serial) VALUES (?, ?)`), c.ID, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create call %q: %w", c.ID, err)
	}
	return nil
}

// GetCall returns the call with id.
func (db *DB) GetCall(ctx context.Context, id string) (core.Call, error) {
	c, err := scanCall(db.r.QueryRowContext(ctx, db.q(`SELECT `+callCols+` FROM calls WHERE id = ?`), id))
	if err != nil {
		return core.Call{}, notFound(err, "get call %q", id)
	}
	return c, nil
}

// ListCalls returns every call by id.
func (db *DB) ListCalls(ctx context.Context) ([]core.Call, error) {
	return queryList(ctx, db, "list calls", scanCall, `SELECT `+callCols+` FROM calls ORDER BY id`)
}

// UpdateCall replaces the call with c.ID by c (its state, dates, offer);
// ErrNotFound if there is none.
func (db *DB) UpdateCall(ctx context.Context, c core.Call) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`UPDATE calls SET title = ?, mode = ?, state = ?, opens = ?, closes = ?, kinds = ?, countries = ?, invited = ?, sites = ?, models = ?, total_hours = ?, max_hours = ? WHERE id = ?`),
			c.Title, c.Mode, c.State, micros(c.Opens), micros(c.Closes), jsonText(c.Kinds), jsonText(c.Countries), jsonText(c.Invited),
			jsonText(c.Sites), jsonText(c.Models), c.TotalHours, c.MaxHours, c.ID)
	})
	if err != nil {
		return fmt.Errorf("store: update call %q: %w", c.ID, err)
	}
	return nil
}

// ---- proposals

const proposalCols = `id, call_id, project, org, pi, title, abstract, hours, period_start, period_end, residency, state, decision, submitted_at, decided_at, created_at, updated_at`

func scanProposal(s interface{ Scan(...any) error }) (core.Proposal, error) {
	var p core.Proposal
	var hours, residency string
	var start, end, created, updated int64
	var submitted, decided sql.NullInt64
	if err := s.Scan(&p.ID, &p.Call, &p.Project, &p.Org, &p.PI, &p.Title, &p.Abstract, &hours, &start, &end, &residency, &p.State, &p.Decision, &submitted, &decided, &created, &updated); err != nil {
		return core.Proposal{}, err
	}
	if err := fromJSON(hours, &p.Hours); err != nil {
		return core.Proposal{}, err
	}
	if err := fromJSON(residency, &p.Residency); err != nil {
		return core.Proposal{}, err
	}
	p.Start, p.End, p.CreatedAt, p.UpdatedAt = fromMicros(start), fromMicros(end), fromMicros(created), fromMicros(updated)
	p.SubmittedAt, p.DecidedAt = fromMicrosPtr(submitted), fromMicrosPtr(decided)
	return p, nil
}

// CreateProposal stores a new proposal to p.Call and returns it with its
// id, the call's id and the call's next serial (from serial on:
// "EHPC-AIF-2026PG01-1001"); ErrNotFound if the call or the project does
// not exist.
func (db *DB) CreateProposal(ctx context.Context, p core.Proposal, serial int) (core.Proposal, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The bump is the first write: it takes the lock, so that serials
		// grow in commit order.
		var n int64
		if err := tx.QueryRowContext(ctx, db.q(`UPDATE call_serials SET next_serial = next_serial + 1 WHERE call_id = ? RETURNING next_serial`), p.Call).Scan(&n); err != nil {
			if err == sql.ErrNoRows {
				return fmt.Errorf("call %q: %w", p.Call, ErrNotFound)
			}
			return err
		}
		var projects int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM projects WHERE name = ?`), p.Project).Scan(&projects); err != nil {
			return err
		}
		if projects == 0 {
			return fmt.Errorf("project %q: %w", p.Project, ErrNotFound)
		}
		p.ID = fmt.Sprintf("%s-%04d", p.Call, int64(serial)+n-1)
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO proposals (`+proposalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			p.ID, p.Call, p.Project, p.Org, p.PI, p.Title, p.Abstract, jsonText(p.Hours), micros(p.Start), micros(p.End), jsonText(p.Residency),
			p.State, p.Decision, microsPtr(p.SubmittedAt), microsPtr(p.DecidedAt), micros(p.CreatedAt), micros(p.UpdatedAt))
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		namePending(ctx, NewProposalObject, "proposal/"+p.ID)
		return nil
	})
	if err != nil {
		return core.Proposal{}, fmt.Errorf("store: create proposal to %q: %w", p.Call, err)
	}
	return p, nil
}

// GetProposal returns the proposal with id.
func (db *DB) GetProposal(ctx context.Context, id string) (core.Proposal, error) {
	p, err := scanProposal(db.r.QueryRowContext(ctx, db.q(`SELECT `+proposalCols+` FROM proposals WHERE id = ?`), id))
	if err != nil {
		return core.Proposal{}, notFound(err, "get proposal %q", id)
	}
	return p, nil
}

// ProposalFilter narrows ListProposals; empty fields match everything.
type ProposalFilter struct {
	Call, Project, State string
	// Reviewer keeps the proposals assigned to this reviewer.
	Reviewer string
}

// ListProposals returns the proposals f matches, by id.
func (db *DB) ListProposals(ctx context.Context, f ProposalFilter) ([]core.Proposal, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"call_id", f.Call}, {"project", f.Project}, {"state", f.State}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Reviewer != "" {
		where = append(where, "id IN (SELECT proposal FROM reviews WHERE reviewer = ?)")
		args = append(args, f.Reviewer)
	}
	q := `SELECT ` + proposalCols + ` FROM proposals`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	return queryList(ctx, db, "list proposals", scanProposal, q+` ORDER BY id`, args...)
}

// UpdateProposal replaces the proposal with p.ID by p; ErrNotFound if
// there is none.
func (db *DB) UpdateProposal(ctx context.Context, p core.Proposal) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error { return db.updateProposal(ctx, tx, p) })
	if err != nil {
		return fmt.Errorf("store: update proposal %q: %w", p.ID, err)
	}
	return nil
}

func (db *DB) updateProposal(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, p core.Proposal) error {
	return execOne(ctx, ex, db.q(`UPDATE proposals SET title = ?, abstract = ?, hours = ?, period_start = ?, period_end = ?, residency = ?, state = ?, decision = ?, submitted_at = ?, decided_at = ?, updated_at = ? WHERE id = ?`),
		p.Title, p.Abstract, jsonText(p.Hours), micros(p.Start), micros(p.End), jsonText(p.Residency), p.State, p.Decision,
		microsPtr(p.SubmittedAt), microsPtr(p.DecidedAt), micros(p.UpdatedAt), p.ID)
}

// ---- reviews

const reviewCols = `proposal, reviewer, technical, scientific, comments, conflict, conflict_reason, assigned_at, assigned_by, submitted_at`

func scanReview(s interface{ Scan(...any) error }) (core.Review, error) {
	var r core.Review
	var tech, sci, conflict, assigned int64
	var submitted sql.NullInt64
	if err := s.Scan(&r.Proposal, &r.Reviewer, &tech, &sci, &r.Comments, &conflict, &r.ConflictReason, &assigned, &r.AssignedBy, &submitted); err != nil {
		return core.Review{}, err
	}
	r.Technical, r.Scientific, r.Conflict = int(tech), int(sci), conflict != 0
	r.AssignedAt, r.SubmittedAt = fromMicros(assigned), fromMicrosPtr(submitted)
	return r, nil
}

// AssignReview stores a reviewer's assignment to a proposal;
// ErrExists if they are assigned already, ErrNotFound if the proposal or
// the reviewer does not exist.
func (db *DB) AssignReview(ctx context.Context, r core.Review) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT (SELECT COUNT(*) FROM proposals WHERE id = ?) + (SELECT COUNT(*) FROM users WHERE name = ?)`), r.Proposal, r.Reviewer).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return ErrNotFound
		}
		ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO reviews (`+reviewCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (proposal, reviewer) DO NOTHING`),
			r.Proposal, r.Reviewer, r.Technical, r.Scientific, r.Comments, boolInt(r.Conflict), r.ConflictReason, micros(r.AssignedAt), r.AssignedBy, microsPtr(r.SubmittedAt))
		if err != nil {
			return err
		}
		if !ok {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: assign %q to proposal %q: %w", r.Reviewer, r.Proposal, err)
	}
	return nil
}

// GetReview returns reviewer's review of proposal.
func (db *DB) GetReview(ctx context.Context, proposal, reviewer string) (core.Review, error) {
	r, err := scanReview(db.r.QueryRowContext(ctx, db.q(`SELECT `+reviewCols+` FROM reviews WHERE proposal = ? AND reviewer = ?`), proposal, reviewer))
	if err != nil {
		return core.Review{}, notFound(err, "get review of %q by %q", proposal, reviewer)
	}
	return r, nil
}

// ListReviews returns the reviews of proposal ("": of every proposal) by
// reviewer ("": by everyone), by proposal and reviewer.
func (db *DB) ListReviews(ctx context.Context, proposal, reviewer string) ([]core.Review, error) {
	q := `SELECT ` + reviewCols + ` FROM reviews WHERE (? = '' OR proposal = ?) AND (? = '' OR reviewer = ?) ORDER BY proposal, reviewer`
	return queryList(ctx, db, "list reviews", scanReview, q, proposal, proposal, reviewer, reviewer)
}

// ListCallReviews returns the reviews of every proposal of call.
func (db *DB) ListCallReviews(ctx context.Context, call string) ([]core.Review, error) {
	q := `SELECT ` + reviewCols + ` FROM reviews WHERE proposal IN (SELECT id FROM proposals WHERE call_id = ?) ORDER BY proposal, reviewer`
	return queryList(ctx, db, "list reviews of call "+call, scanReview, q, call)
}

// UpdateReview replaces a review's scores, comments, conflict and
// submission time; ErrNotFound if the reviewer is not assigned.
func (db *DB) UpdateReview(ctx context.Context, r core.Review) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`UPDATE reviews SET technical = ?, scientific = ?, comments = ?, conflict = ?, conflict_reason = ?, submitted_at = ? WHERE proposal = ? AND reviewer = ?`),
			r.Technical, r.Scientific, r.Comments, boolInt(r.Conflict), r.ConflictReason, microsPtr(r.SubmittedAt), r.Proposal, r.Reviewer)
	})
	if err != nil {
		return fmt.Errorf("store: update review of %q by %q: %w", r.Proposal, r.Reviewer, err)
	}
	return nil
}

// ---- conflicts

const conflictCols = `reviewer, org, project, reason, declared_at`

func scanConflict(s interface{ Scan(...any) error }) (core.Conflict, error) {
	var c core.Conflict
	var declared int64
	if err := s.Scan(&c.Reviewer, &c.Org, &c.Project, &c.Reason, &declared); err != nil {
		return core.Conflict{}, err
	}
	c.DeclaredAt = fromMicros(declared)
	return c, nil
}

// DeclareConflict records a reviewer's conflict with an organisation or a
// project; declaring it again replaces the reason.
func (db *DB) DeclareConflict(ctx context.Context, c core.Conflict) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO conflicts (`+conflictCols+`) VALUES (?, ?, ?, ?, ?) ON CONFLICT (reviewer, org, project) DO UPDATE SET reason = excluded.reason, declared_at = excluded.declared_at`),
			c.Reviewer, c.Org, c.Project, c.Reason, micros(c.DeclaredAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: declare conflict of %q: %w", c.Reviewer, err)
	}
	return nil
}

// ListConflicts returns reviewer's declared conflicts ("": everyone's).
func (db *DB) ListConflicts(ctx context.Context, reviewer string) ([]core.Conflict, error) {
	return queryList(ctx, db, "list conflicts", scanConflict,
		`SELECT `+conflictCols+` FROM conflicts WHERE (? = '' OR reviewer = ?) ORDER BY reviewer, org, project`, reviewer, reviewer)
}

// ---- members

const memberCols = `project, user_name, role, added_at, added_by`

func scanMember(s interface{ Scan(...any) error }) (core.Membership, error) {
	var m core.Membership
	var added int64
	if err := s.Scan(&m.Project, &m.User, &m.Role, &added, &m.AddedBy); err != nil {
		return core.Membership{}, err
	}
	m.AddedAt = fromMicros(added)
	return m, nil
}

// AddMember makes a user a project's PI or member; adding them again
// changes their role. ErrNotFound if the project or the user does not
// exist.
func (db *DB) AddMember(ctx context.Context, m core.Membership) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT (SELECT COUNT(*) FROM projects WHERE name = ?) + (SELECT COUNT(*) FROM users WHERE name = ?)`), m.Project, m.User).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO members (`+memberCols+`) VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, user_name) DO UPDATE SET role = excluded.role`),
			m.Project, m.User, m.Role, micros(m.AddedAt), m.AddedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: add %q to project %q: %w", m.User, m.Project, err)
	}
	return nil
}

// RemoveMember takes a user out of a project; ErrNotFound if they are not
// in it.
func (db *DB) RemoveMember(ctx context.Context, project, user string) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`DELETE FROM members WHERE project = ? AND user_name = ?`), project, user)
	})
	if err != nil {
		return fmt.Errorf("store: remove %q from project %q: %w", user, project, err)
	}
	return nil
}

// GetMember returns user's membership of project.
func (db *DB) GetMember(ctx context.Context, project, user string) (core.Membership, error) {
	m, err := scanMember(db.r.QueryRowContext(ctx, db.q(`SELECT `+memberCols+` FROM members WHERE project = ? AND user_name = ?`), project, user))
	if err != nil {
		return core.Membership{}, notFound(err, "get member %q of %q", user, project)
	}
	return m, nil
}

// ListMembers returns project's members by name.
func (db *DB) ListMembers(ctx context.Context, project string) ([]core.Membership, error) {
	return queryList(ctx, db, "list members of "+project, scanMember, `SELECT `+memberCols+` FROM members WHERE project = ? ORDER BY user_name`, project)
}

// Memberships returns the projects user belongs to, by project.
func (db *DB) Memberships(ctx context.Context, user string) ([]core.Membership, error) {
	return queryList(ctx, db, "list memberships of "+user, scanMember, `SELECT `+memberCols+` FROM members WHERE user_name = ? ORDER BY project`, user)
}

// ---- awards

const awardCols = `id, project, proposal, call_id, mode, hours, valid_from, valid_to, sites, overdraft, created_at, created_by`

func scanAward(s interface{ Scan(...any) error }) (core.Award, error) {
	var a core.Award
	var hours, sites string
	var from, to, created int64
	if err := s.Scan(&a.ID, &a.Project, &a.Proposal, &a.Call, &a.Mode, &hours, &from, &to, &sites, &a.Overdraft, &created, &a.CreatedBy); err != nil {
		return core.Award{}, err
	}
	if err := fromJSON(hours, &a.Hours); err != nil {
		return core.Award{}, err
	}
	if err := fromJSON(sites, &a.Sites); err != nil {
		return core.Award{}, err
	}
	a.ValidFrom, a.ValidTo, a.CreatedAt = fromMicros(from), fromMicros(to), fromMicros(created)
	return a, nil
}

func (db *DB) insertAward(ctx context.Context, tx *sql.Tx, a core.Award) error {
	var n int
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM projects WHERE name = ?`), a.Project).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("project %q: %w", a.Project, ErrNotFound)
	}
	ok, err := insertOnce(ctx, tx, db.q(`INSERT INTO awards (`+awardCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		a.ID, a.Project, a.Proposal, a.Call, a.Mode, jsonText(a.Hours), micros(a.ValidFrom), micros(a.ValidTo), jsonText(a.Sites), a.Overdraft, micros(a.CreatedAt), a.CreatedBy)
	if err != nil {
		return err
	}
	if !ok {
		return ErrExists
	}
	return nil
}

// CreateAward stores a new award; ErrExists if its id is taken,
// ErrNotFound if its project does not exist.
func (db *DB) CreateAward(ctx context.Context, a core.Award) error {
	if err := db.inTx(ctx, func(tx *sql.Tx) error { return db.insertAward(ctx, tx, a) }); err != nil {
		return fmt.Errorf("store: create award %q: %w", a.ID, err)
	}
	return nil
}

// DecideAward makes award a on proposal p in one transaction: it locks
// a.Call's row (so two awards of one call are decided one after the
// other), asks check with the awards the call has made already, then
// stores a and p (its state awarded). check's error is returned as it is.
func (db *DB) DecideAward(ctx context.Context, a core.Award, p core.Proposal, check func(awarded []core.Award) error) error {
	var checkErr error
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, db.q(`UPDATE calls SET state = state WHERE id = ?`), a.Call); err != nil {
			return fmt.Errorf("call %q: %w", a.Call, err)
		}
		rows, err := tx.QueryContext(ctx, db.q(`SELECT `+awardCols+` FROM awards WHERE call_id = ? ORDER BY id`), a.Call)
		if err != nil {
			return err
		}
		var awarded []core.Award
		for rows.Next() {
			x, err := scanAward(rows)
			if err != nil {
				rows.Close()
				return err
			}
			awarded = append(awarded, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if checkErr = check(awarded); checkErr != nil {
			return checkErr
		}
		if err := db.insertAward(ctx, tx, a); err != nil {
			return err
		}
		return db.updateProposal(ctx, tx, p)
	})
	if checkErr != nil {
		return checkErr
	}
	if err != nil {
		return fmt.Errorf("store: award %q: %w", a.ID, err)
	}
	return nil
}

// GetAward returns the award with id.
func (db *DB) GetAward(ctx context.Context, id string) (core.Award, error) {
	a, err := scanAward(db.r.QueryRowContext(ctx, db.q(`SELECT `+awardCols+` FROM awards WHERE id = ?`), id))
	if err != nil {
		return core.Award{}, notFound(err, "get award %q", id)
	}
	return a, nil
}

// ListAwards returns project's awards ("": every project's), expired ones
// included, by id.
func (db *DB) ListAwards(ctx context.Context, project string) ([]core.Award, error) {
	return queryList(ctx, db, "list awards", scanAward, `SELECT `+awardCols+` FROM awards WHERE (? = '' OR project = ?) ORDER BY id`, project, project)
}

// ListCallAwards returns the awards call has made, by id.
func (db *DB) ListCallAwards(ctx context.Context, call string) ([]core.Award, error) {
	return queryList(ctx, db, "list awards of call "+call, scanAward, `SELECT `+awardCols+` FROM awards WHERE call_id = ? ORDER BY id`, call)
}

// UpdateAward replaces an award's hours, validity, sites and overdraft
// (an extension); ErrNotFound if there is none.
func (db *DB) UpdateAward(ctx context.Context, a core.Award) error {
	// In a transaction, so an entry attached with WithAudit commits with it.
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, db.q(`UPDATE awards SET hours = ?, valid_from = ?, valid_to = ?, sites = ?, overdraft = ? WHERE id = ?`),
			jsonText(a.Hours), micros(a.ValidFrom), micros(a.ValidTo), jsonText(a.Sites), a.Overdraft, a.ID)
	})
	if err != nil {
		return fmt.Errorf("store: update award %q: %w", a.ID, err)
	}
	return nil
}

// AwardsActive returns the awards not yet expired (valid_to after now;
// those whose validity has not begun included), by project and id. The
// scheduler's enforcement reads them at start; ListAwards(ctx, "") has
// the expired ones too.
func (db *DB) AwardsActive(ctx context.Context) ([]core.Award, error) {
	return queryList(ctx, db, "list active awards", scanAward,
		`SELECT `+awardCols+` FROM awards WHERE valid_to > ? ORDER BY project, id`, time.Now().UnixMicro())
}
