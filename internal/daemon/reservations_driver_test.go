package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// A reservation of Gigafactory's own is the scheduler's business: the
// driver does not get its name (Slurm would refuse a reservation it does
// not have); a name Gigafactory does not know is the site's own and is
// passed on.
func TestDriverSeesOnlySiteReservations(t *testing.T) {
	h := start(t, t.TempDir(), nil)
	ctx := context.Background()
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.d.CreateReservation(ctx, core.Reservation{ID: "moonshot-1", Site: "local", Model: "virtual", Accelerators: 4,
		Start: now.Add(-time.Minute), End: now.Add(time.Hour), Projects: []string{"default"}, CreatedAt: now}))
	j := core.Job{ID: 1, Project: "default", User: "u", Spec: core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Reservation: "moonshot-1"}}
	site := core.Job{ID: 2, Project: "default", User: "u", Spec: core.JobSpec{Command: []string{"true"}, Accelerators: 1000, Reservation: "maint-2026-12"}}
	var got [2]core.Job
	err := h.d.do(ctx, func(ctx context.Context) {
		h.d.applyQueued(ctx)
		got[0], got[1] = h.d.forDriver(j), h.d.forDriver(site)
	})
	must(err)
	if got[0].Spec.Reservation != "" {
		t.Errorf("the driver gets Gigafactory's reservation %q", got[0].Spec.Reservation)
	}
	if got[1].Spec.Reservation != "maint-2026-12" {
		t.Errorf("the site's own reservation became %q", got[1].Spec.Reservation)
	}
	if j.Spec.Reservation != "moonshot-1" {
		t.Error("forDriver changed the caller's job")
	}
}
