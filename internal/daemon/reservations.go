package daemon

import (
	"context"
	"fmt"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/engine"
)

// Advance reservations (issue 17): stored first (with the caller's audit
// entry, store.WithAudit, in the same transaction), then given to the
// engine as events; at start Recover gives it every stored one again, so
// a booked window survives restarts. The engine's reservations are Named:
// only the jobs that name one (--reservation ID) run in it.

// engineReservation is r as the engine takes it.
func engineReservation(r core.Reservation) engine.Reservation {
	return engine.Reservation{Name: r.ID, Site: r.Site, Model: r.Model, Accelerators: r.Accelerators,
		Start: r.Start, End: r.End, Projects: r.Projects, Named: true}
}

// CreateReservation stores r and hands it to the scheduler, which drains
// its nodes ahead of r.Start. ctx may carry an audit entry (store.WithAudit)
// that commits with it. store.ErrExists if r.ID is taken.
func (d *Daemon) CreateReservation(ctx context.Context, r core.Reservation) error {
	if err := d.st.CreateReservation(ctx, r); err != nil {
		return err
	}
	d.enqueue(engineReservation(r))
	return nil
}

// DeleteReservation removes reservation id; its nodes return to ordinary
// use. ctx may carry an audit entry. store.ErrNotFound if there is none.
func (d *Daemon) DeleteReservation(ctx context.Context, id string) error {
	if err := d.st.DeleteReservation(ctx, id); err != nil {
		return err
	}
	d.enqueue(engine.ReservationDeleted{Name: id})
	return nil
}

// ReservationStates returns what the scheduler makes of each reservation
// it holds, by id: its nodes, whether its window is open, why it holds
// none. A reservation whose window has ended is no longer there.
func (d *Daemon) ReservationStates(ctx context.Context) (map[string]engine.ReservationStatus, error) {
	out := map[string]engine.ReservationStatus{}
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		for _, r := range d.eng.Reservations() {
			out[r.Name] = r
		}
	})
	return out, err
}

// loadReservations gives the engine every stored reservation whose window
// has not ended (Recover, before the pending jobs that may name them).
func (d *Daemon) loadReservations(ctx context.Context) error {
	rs, err := d.st.ListReservations(ctx)
	if err != nil {
		return fmt.Errorf("recover reservations: %w", err)
	}
	now := d.clock()
	for _, r := range rs {
		if now.Before(r.End) {
			d.eng.Apply(engineReservation(r))
		}
	}
	return nil
}

// forDriver is the job as its site's driver gets it: a reservation of
// Gigafactory's own is the engine's business (the allocation already
// lies inside it), so it is not passed on; a name Gigafactory does not
// know is the site's own (a Slurm reservation) and is.
func (d *Daemon) forDriver(j core.Job) core.Job {
	if j.Spec.Reservation == "" {
		return j
	}
	for _, r := range d.eng.Reservations() {
		if r.Name == j.Spec.Reservation {
			j.Spec.Reservation = ""
			return j
		}
	}
	return j
}
