package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// meterColumns are the meters table's columns in the order meterArgs and
// scanMeter use.
const meterColumns = `job_id, attempt, project, org, org_kind, user_name, mode, site, site_kind, country, pool, model, state,
start_time, end_time, accelerators, nodes, accel_hours, node_hours, cpu_core_hours, award, norm_unit, norm_hours,
power_w, power_source, utilisation, pue, energy_kwh, carbon_factor, carbon_year, carbon_source, carbon_kg,
price, cost, public_cost, private_cost, policy, capped_hours`

func meterArgs(m core.Meter) []any {
	return []any{int64(m.JobID), m.Attempt, m.Project, m.Org, m.OrgKind, m.User, m.Mode, m.Site, m.SiteKind, m.Country, m.Pool, m.Model, m.State,
		micros(m.Start), micros(m.End), m.Accelerators, m.Nodes, m.AccelHours, m.NodeHours, m.CPUCoreHours, m.Award, m.NormUnit, m.NormHours,
		m.PowerW, m.PowerSource, m.Utilisation, m.PUE, m.EnergyKWh, m.CarbonFactor, m.CarbonYear, m.CarbonSource, m.CarbonKg,
		m.Price, m.Cost, m.Public, m.Private, m.Policy, m.CappedHours}
}

func scanMeter(s interface{ Scan(...any) error }) (core.Meter, error) {
	var m core.Meter
	var id, start, end int64
	err := s.Scan(&id, &m.Attempt, &m.Project, &m.Org, &m.OrgKind, &m.User, &m.Mode, &m.Site, &m.SiteKind, &m.Country, &m.Pool, &m.Model, &m.State,
		&start, &end, &m.Accelerators, &m.Nodes, &m.AccelHours, &m.NodeHours, &m.CPUCoreHours, &m.Award, &m.NormUnit, &m.NormHours,
		&m.PowerW, &m.PowerSource, &m.Utilisation, &m.PUE, &m.EnergyKWh, &m.CarbonFactor, &m.CarbonYear, &m.CarbonSource, &m.CarbonKg,
		&m.Price, &m.Cost, &m.Public, &m.Private, &m.Policy, &m.CappedHours)
	m.JobID, m.Start, m.End = core.JobID(id), fromMicros(start), fromMicros(end)
	return m, err
}

// insertMeter writes m in tx, once: a meter for a (job, attempt) that
// has one already is not written again, so a run is never counted twice.
func (db *DB) insertMeter(ctx context.Context, tx *sql.Tx, m core.Meter) error {
	if m.JobID == 0 {
		return errors.New("meter: job_id is 0")
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", strings.Count(meterColumns, ",")+1), ", ")
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO meters (`+meterColumns+`) VALUES (`+marks+`) ON CONFLICT (job_id, attempt) DO NOTHING`), meterArgs(m)...)
	if err != nil {
		return fmt.Errorf("meter of job %d attempt %d: %w", m.JobID, m.Attempt, err)
	}
	return nil
}

// UpdateJobWithMeter is UpdateJob that also records m, the meter of the
// run that ended, in the same transaction: the run's end and what it used
// commit together or not at all. A meter whose (job, attempt) is recorded
// already is kept as it was.
func (db *DB) UpdateJobWithMeter(ctx context.Context, job core.Job, ev core.Event, m core.Meter) error {
	if _, err := db.updateJob(ctx, job, nil, ev, &m); err != nil {
		return fmt.Errorf("store: update job %d with its meter: %w", job.ID, err)
	}
	return nil
}

// MeterFilter selects meters; zero fields select all. A run is in
// [From, To) by its end. Limit, when positive, bounds a page; Cursor is
// the next_cursor of the page before.
type MeterFilter struct {
	Org     string
	Project string
	Job     core.JobID
	From    time.Time
	To      time.Time
	Limit   int
	Cursor  string
}

// ListMeters returns the meters f selects, by end time, then job and
// attempt, and the cursor of the next page ("" when this is the last).
// A bad cursor is an error naming it.
func (db *DB) ListMeters(ctx context.Context, f MeterFilter) ([]core.Meter, string, error) {
	var where []string
	var args []any
	if f.Cursor != "" {
		var end, job int64
		var attempt int
		if n, err := fmt.Sscanf(f.Cursor, "%d.%d.%d", &end, &job, &attempt); n != 3 || err != nil {
			return nil, "", fmt.Errorf("store: list meters: cursor %q: %w", f.Cursor, ErrBadCursor)
		}
		where = append(where, "(end_time > ? OR end_time = ? AND (job_id > ? OR job_id = ? AND attempt > ?))")
		args = append(args, end, end, job, job, attempt)
	}
	if f.Org != "" {
		where, args = append(where, "org = ?"), append(args, f.Org)
	}
	if f.Project != "" {
		where, args = append(where, "project = ?"), append(args, f.Project)
	}
	if f.Job != 0 {
		where, args = append(where, "job_id = ?"), append(args, int64(f.Job))
	}
	if !f.From.IsZero() {
		where, args = append(where, "end_time >= ?"), append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "end_time < ?"), append(args, micros(f.To))
	}
	query := `SELECT ` + meterColumns + ` FROM meters`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY end_time, job_id, attempt`
	if f.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, f.Limit+1)
	}
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list meters: %w", err)
	}
	defer rows.Close()
	var out []core.Meter
	for rows.Next() {
		m, err := scanMeter(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list meters: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list meters: %w", err)
	}
	next := ""
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = fmt.Sprintf("%d.%d.%d", micros(last.End), int64(last.JobID), last.Attempt)
	}
	return out, next, nil
}

// CappedHours is the accelerator-hours of project's runs counted against
// a co-funding cap so far (meter.Run.CapUsed).
func (db *DB) CappedHours(ctx context.Context, project string) (float64, error) {
	var h sql.NullFloat64
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT SUM(capped_hours) FROM meters WHERE project = ?`), project).Scan(&h); err != nil {
		return 0, fmt.Errorf("store: capped hours of %s: %w", project, err)
	}
	return h.Float64, nil
}
