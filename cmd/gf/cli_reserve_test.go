package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

func TestWriteReservations(t *testing.T) {
	now := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	start := now.Add(24 * time.Hour)
	rs := []core.Reservation{
		{ID: "moon", Site: "gf-fr", Model: "h100", Accelerators: 65536, Start: start, End: start.Add(48 * time.Hour), Projects: []string{"rocket", "lander"}, State: core.ReservationDraining},
		{ID: "maint", Site: "gf-de", Accelerators: 8, Start: now, End: now.Add(time.Hour), State: core.ReservationActive},
	}
	var b strings.Builder
	if err := writeReservations(&b, rs, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and two rows:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"ID", "SITE", "MODEL", "ACCELERATORS", "START", "END", "PROJECTS", "STATE"},
		{"moon", "gf-fr", "h100", "65536", "rocket,lander", "draining"},
		{"maint", "gf-de", "any", "8", "any", "active"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	b.Reset()
	if err := writeReservationDetail(&b, &core.Reservation{ID: "moon", Site: "gf-fr", Accelerators: 8, Start: start, End: start.Add(time.Hour), State: core.ReservationPlanned, Problem: "no pool can hold 8 accelerators"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Reservation:", "moon", "Duration:", "1:00:00", "State:", "planned", "Problem:", "no pool can hold 8 accelerators"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("detail lacks %q:\n%s", want, b.String())
		}
	}
}
