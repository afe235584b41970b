package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

func TestReservations(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		start := time.Date(2026, 12, 9, 8, 0, 0, 0, time.UTC)
		moon := core.Reservation{ID: "moon", Site: "gf-fr", Model: "h100", Accelerators: 65536, Start: start, End: start.Add(48 * time.Hour),
			Projects: []string{"rocket", "lander"}, CreatedAt: start.Add(-24 * time.Hour), CreatedBy: "op"}
		early := core.Reservation{ID: "early", Site: "gf-de", Accelerators: 8, Start: start.Add(-time.Hour), End: start, CreatedAt: start.Add(-24 * time.Hour)}
		actx := store.WithAudit(ctx, store.AuditEntry{Actor: "op", Action: "reservation.create", Object: "reservation/moon"})
		if err := db.CreateReservation(actx, moon); err != nil {
			t.Fatal(err)
		}
		if !store.AuditWritten(actx) {
			t.Error("the create's audit entry was not written in its transaction")
		}
		if err := db.CreateReservation(ctx, early); err != nil {
			t.Fatal(err)
		}
		again := store.WithAudit(ctx, store.AuditEntry{Actor: "op", Action: "reservation.create", Object: "reservation/moon"})
		if err := db.CreateReservation(again, moon); !errors.Is(err, store.ErrExists) {
			t.Errorf("second create: %v, want ErrExists", err)
		}
		if store.AuditWritten(again) {
			t.Error("a refused create wrote its audit entry")
		}
		got, err := db.GetReservation(ctx, "moon")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(moon, got); diff != "" {
			t.Errorf("GetReservation (-want +got):\n%s", diff)
		}
		list, err := db.ListReservations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]core.Reservation{early, moon}, list); diff != "" {
			t.Errorf("ListReservations, by start (-want +got):\n%s", diff)
		}
		if err := db.DeleteReservation(ctx, "moon"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteReservation(ctx, "moon"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		if _, err := db.GetReservation(ctx, "moon"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get after delete: %v, want ErrNotFound", err)
		}
		entries, err := db.FindAudit(ctx, store.AuditFilter{Action: "reservation.create"})
		if err != nil || len(entries) != 1 {
			t.Errorf("reservation.create entries %+v, %v: want exactly one", entries, err)
		}
	})
}
