package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

// Advance reservations (issue 17), as Slurm's scontrol create reservation:
// the site's operators, allocators and global administrators book a window
// of accelerators at a site for projects; those projects' jobs that name it
// (--reservation ID) run in it. Everyone sees the reservations of their
// own projects (and those for no project); operators, allocators and
// administrators see all. Creation and deletion are audited in the
// store's transaction.

// reservationRequest is the body of POST /api/v1/reservations.
type reservationRequest = core.NewReservation

// maxReservationName bounds a reservation's id.
const maxReservationName = 64

// startSlack is how far in the past a start may lie ("now" on a slow
// client): later than that is refused.
const startSlack = time.Minute

func (s *Server) createReservation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var req reservationRequest
	if err := decodeStrict(r, &req); err != nil {
		return err
	}
	res, err := s.validReservation(ctx, u, req)
	if err != nil {
		return err
	}
	base := res.ID
	for i := 1; ; i++ {
		if req.Name == "" && i > 1 {
			res.ID = fmt.Sprintf("%s-%d", base, i)
		}
		detail := fmt.Sprintf("site %s, %d %s accelerators, %s to %s, projects %v", res.Site, res.Accelerators, res.Model,
			res.Start.Format(time.RFC3339), res.End.Format(time.RFC3339), res.Projects)
		// The entry commits with the reservation (the store's transaction).
		actx := s.auditCtx(ctx, "reservation.create", "reservation/"+res.ID, detail)
		err = s.d.CreateReservation(actx, res)
		if errors.Is(err, store.ErrExists) && req.Name == "" && i < 20 {
			continue
		}
		if errors.Is(err, store.ErrExists) {
			return exists("reservation %s exists already", res.ID)
		}
		if err != nil {
			return err
		}
		if err := s.auditIfNotWritten(actx); err != nil {
			return err
		}
		break
	}
	out, err := s.withReservationStates(ctx, []core.Reservation{res})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out[0])
}

// validReservation checks req field by field and returns the reservation
// it books for u.
func (s *Server) validReservation(ctx context.Context, u core.User, req reservationRequest) (core.Reservation, error) {
	if req.Site == "" {
		return core.Reservation{}, invalidField("site", "required")
	}
	var site core.Site
	found := false
	for _, st := range s.d.Sites() {
		if st.ID == req.Site {
			site, found = st, true
		}
	}
	if !found {
		return core.Reservation{}, invalidField("site", "unknown site %q", req.Site)
	}
	if !operates(u, site.ID) && !isAllocator(u) {
		return core.Reservation{}, forbidden("user %s may not reserve site %s: its operators, allocators and global administrators only", u.Name, site.ID)
	}
	if req.Name != "" {
		if err := checkText("name", req.Name, maxReservationName, false); err != nil {
			return core.Reservation{}, err
		}
		for _, c := range req.Name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return core.Reservation{}, invalidField("name", "letters, digits, '-', '_' and '.' only; got %q", req.Name)
			}
		}
	}
	model := req.Model
	if model != "" {
		m, reason := resolveModels(model, []core.Site{site})
		if reason != "" {
			return core.Reservation{}, invalidField("model", "site %s has no model %q: %s", site.ID, model, reason)
		}
		model = m
	}
	// A reservation lies in one pool: the largest of the model's bounds it.
	largest, pool := 0, ""
	for _, p := range site.Pools {
		if p.AccelPerNode > 0 && (model == "" || p.Model == model) && p.Nodes*p.AccelPerNode > largest {
			largest, pool = p.Nodes*p.AccelPerNode, p.Name
		}
	}
	switch {
	case largest == 0:
		return core.Reservation{}, invalidField("model", "site %s has no accelerators of model %q", site.ID, req.Model)
	case req.Accelerators <= 0:
		return core.Reservation{}, invalidField("accelerators", "want a count > 0, got %d", req.Accelerators)
	case req.Accelerators > largest:
		return core.Reservation{}, invalidField("accelerators", "%d accelerators do not fit site %s: its largest pool of the model (%s) holds %d", req.Accelerators, site.ID, pool, largest)
	}
	now := time.Now().UTC()
	if req.Start == "" {
		return core.Reservation{}, invalidField("start", "required: RFC 3339 or sbatch --begin's forms (now, now+1hour, 2026-12-09T08:00)")
	}
	start, err := time.Parse(time.RFC3339, req.Start)
	if err != nil {
		if start, err = spec.ParseSlurmDate(req.Start, now); err != nil {
			return core.Reservation{}, invalidField("start", "%v", err)
		}
	}
	start = start.UTC().Truncate(time.Second)
	if start.Before(now.Add(-startSlack)) {
		return core.Reservation{}, invalidField("start", "%s is in the past", start.Format(time.RFC3339))
	}
	if start.Before(now) {
		start = now.Truncate(time.Second)
	}
	if req.Duration == "" {
		return core.Reservation{}, invalidField("duration", "required: sbatch --time's forms (minutes, H:M:S, D-H:M:S)")
	}
	d, err := spec.ParseSlurmTime(req.Duration)
	if err != nil {
		return core.Reservation{}, invalidField("duration", "%v", err)
	}
	if d <= 0 {
		return core.Reservation{}, invalidField("duration", "want a duration > 0, got %q", req.Duration)
	}
	if err := s.reservationRoom(ctx, site, model, req.Accelerators, largest, start, start.Add(d), req.Name); err != nil {
		return core.Reservation{}, err
	}
	var projects []string
	for _, name := range req.Projects {
		if _, err := s.st.GetProject(ctx, name); errors.Is(err, store.ErrNotFound) {
			return core.Reservation{}, invalidField("projects", "unknown project %q", name)
		} else if err != nil {
			return core.Reservation{}, err
		}
		if !slices.Contains(projects, name) {
			projects = append(projects, name)
		}
	}
	id := req.Name
	if id == "" {
		id = site.ID + "-" + start.Format("20060102T1504")
	}
	return core.Reservation{ID: id, Site: site.ID, Model: model, Accelerators: req.Accelerators, Start: start, End: start.Add(d),
		Projects: projects, CreatedAt: now, CreatedBy: u.Name}, nil
}

// reservationRoom refuses a reservation that cannot get nodes in its
// window whatever the running jobs do: the reservations of the site that
// overlap it in time, on the same model, already hold so many whole nodes
// that acc accelerators no longer fit in the largest pool's capacity. (One
// whose window follows another's on the same nodes is accepted: it gets
// them when the earlier one ends.) A reservation named like the new one is
// the one a 409 will name, not counted.
func (s *Server) reservationRoom(ctx context.Context, site core.Site, model string, acc, capacity int, start, end time.Time, name string) error {
	rs, err := s.st.ListReservations(ctx)
	if err != nil {
		return err
	}
	perNode := 1
	for _, p := range site.Pools {
		if p.AccelPerNode > 0 && (model == "" || p.Model == model) {
			perNode = max(perNode, p.AccelPerNode)
		}
	}
	whole := func(n int) int { return (n + perNode - 1) / perNode * perNode }
	held := 0
	var names []string
	for _, r := range rs {
		if r.Site != site.ID || r.ID == name || !r.Start.Before(end) || !start.Before(r.End) ||
			model != "" && r.Model != "" && r.Model != model {
			continue
		}
		held += whole(r.Accelerators)
		names = append(names, fmt.Sprintf("%s (%d)", r.ID, r.Accelerators))
	}
	if held > 0 && held+whole(acc) > capacity {
		return invalidField("accelerators", "%d accelerators do not fit site %s from %s to %s: reservations %s overlap that window and hold %d of %d",
			acc, site.ID, start.Format(time.RFC3339), end.Format(time.RFC3339), strings.Join(names, ", "), held, capacity)
	}
	return nil
}

// reservationVisible reports whether u may see r: administrators and
// allocators all, operators those of their sites; others those of
// projects of their organisation or that they are members of, and those
// for no project.
func (s *Server) reservationVisible(ctx context.Context, u core.User, r core.Reservation) (bool, error) {
	if isAllocator(u) || operates(u, r.Site) || len(r.Projects) == 0 {
		return true, nil
	}
	for _, name := range r.Projects {
		p, err := s.project(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if member(u, p.Org) {
			return true, nil
		}
		if role, err := s.projectRole(ctx, u, name); err != nil || role != "" {
			return role != "", err
		}
	}
	return false, nil
}

// withReservationStates fills each reservation's state, nodes and problem
// from the scheduler.
func (s *Server) withReservationStates(ctx context.Context, rs []core.Reservation) ([]core.Reservation, error) {
	states, err := s.d.ReservationStates(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range rs {
		rs[i].State = reservationState(rs[i], states, now)
		if st, ok := states[rs[i].ID]; ok {
			rs[i].Nodes, rs[i].Problem = st.Nodes, st.Problem
		}
	}
	return rs, nil
}

func reservationState(r core.Reservation, states map[string]engine.ReservationStatus, now time.Time) string {
	st, ok := states[r.ID]
	switch {
	case !now.Before(r.End):
		return core.ReservationEnded
	case !ok || st.Problem != "" || len(st.Nodes) == 0:
		return core.ReservationPlanned
	case st.Active:
		return core.ReservationActive
	default:
		return core.ReservationDraining
	}
}

func (s *Server) listReservations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	site := r.URL.Query().Get("site")
	if err := checkText("site", site, maxQueryValue, false); err != nil {
		return err
	}
	all, err := s.st.ListReservations(ctx)
	if err != nil {
		return err
	}
	out := []core.Reservation{}
	for _, res := range all {
		if site != "" && res.Site != site {
			continue
		}
		ok, err := s.reservationVisible(ctx, u, res)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, res)
		}
	}
	if out, err = s.withReservationStates(ctx, out); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Reservation]{Items: out})
}

// visibleReservation returns reservation id if u may see it; 404 as for a
// missing one otherwise.
func (s *Server) visibleReservation(ctx context.Context, u core.User, id string) (core.Reservation, error) {
	res, err := s.st.GetReservation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return core.Reservation{}, notFound("no reservation %q", id)
	}
	if err != nil {
		return core.Reservation{}, err
	}
	ok, err := s.reservationVisible(ctx, u, res)
	if err != nil {
		return core.Reservation{}, err
	}
	if !ok {
		return core.Reservation{}, notFound("no reservation %q", id)
	}
	return res, nil
}

func (s *Server) getReservation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	res, err := s.visibleReservation(ctx, userFrom(ctx), r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := s.withReservationStates(ctx, []core.Reservation{res})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

func (s *Server) deleteReservation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	res, err := s.visibleReservation(ctx, u, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !operates(u, res.Site) && !isAllocator(u) {
		return forbidden("user %s may not delete reservation %s: the operators of site %s, allocators and global administrators only", u.Name, res.ID, res.Site)
	}
	out, err := s.withReservationStates(ctx, []core.Reservation{res})
	if err != nil {
		return err
	}
	// The entry commits with the deletion (the store's transaction).
	actx := s.auditCtx(ctx, "reservation.delete", "reservation/"+res.ID, "site "+res.Site)
	if err := s.d.DeleteReservation(actx, res.ID); errors.Is(err, store.ErrNotFound) {
		return notFound("no reservation %q", res.ID)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out[0])
}

// checkReservation refuses (422, field reservation) a job naming one of
// Gigafactory's reservations that is not for its project, or has ended,
// and pins the job to the reservation's site (and model, when it gives
// none). A name Gigafactory does not know is left alone: a Slurm site's
// own reservation.
func (s *Server) checkReservation(ctx context.Context, sp *core.JobSpec, project, field string) error {
	if sp.Reservation == "" {
		return nil
	}
	res, err := s.st.GetReservation(ctx, sp.Reservation)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(res.Projects) > 0 && !slices.Contains(res.Projects, project) {
		return invalidField(field+"reservation", "reservation %s is not for project %s", res.ID, project)
	}
	if !time.Now().Before(res.End) {
		return invalidField(field+"reservation", "reservation %s ended at %s", res.ID, res.End.Format(time.RFC3339))
	}
	switch {
	case sp.Site == "":
		sp.Site = res.Site
	case sp.Site != res.Site:
		return invalidField(field+"site", "reservation %s is at site %s, not %s", res.ID, res.Site, sp.Site)
	}
	if sp.Model == "" && res.Model != "" && sp.Accelerators > 0 {
		sp.Model = res.Model
	}
	return nil
}
