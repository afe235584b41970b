package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/meter"
	"github.com/gigafactory/gigafactory/internal/store"
)

// meterOf is the meter of job j's run attempt, ended at end, as the
// daemon builds it.
func meterOf(j core.Job, attempt int, end time.Time, kind string, capUsed float64) core.Meter {
	j.Attempt = attempt
	j.Alloc = &core.Allocation{Site: "jsc", Pool: "gpu", Nodes: []core.NodeAlloc{{Node: "n1", Accels: []int{0, 1, 2, 3}}}}
	s := core.Site{ID: "jsc", Kind: core.SiteFactory, Country: "DE", PUE: 1.1, PricePerAccelHour: 3,
		Pools: []core.Pool{{Name: "gpu", Model: "NVIDIA H100", AccelPerNode: 4, Nodes: 8, CPUsPerNode: 48}}}
	return meter.Config{}.Meter(meter.Run{Job: j, Start: end.Add(-90 * time.Minute), End: end, State: string(core.StateCompleted), Site: s, OrgKind: kind, CapUsed: capUsed})
}

func TestMeters(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		end := t0.Truncate(time.Microsecond).Add(time.Hour)
		a := submitOne(t, db, jobOf("a", "ada", "p1"))
		b := submitOne(t, db, jobOf("b", "bob", "p2"))

		// a is preempted and requeued (attempt 0), then completes
		// (attempt 1); the end of attempt 1 is recorded twice, as after a
		// restart: its meter is kept once, as first written.
		a.State, a.Reason, a.Attempt = core.StatePending, "preempted; requeued", 1
		m0 := meterOf(a, 0, end, core.OrgSME, 0)
		if err := db.UpdateJobWithMeter(ctx, a, core.Event{Type: "requeued", State: core.StatePending}, m0); err != nil {
			t.Fatal(err)
		}
		a.State, a.Reason = core.StateCompleted, ""
		m1 := meterOf(a, 1, end.Add(24*time.Hour), core.OrgSME, m0.CappedHours)
		if err := db.UpdateJobWithMeter(ctx, a, core.Event{Type: "ended", State: core.StateCompleted}, m1); err != nil {
			t.Fatal(err)
		}
		again := m1
		again.Cost, again.Public = 999, 999
		if err := db.UpdateJobWithMeter(ctx, a, core.Event{Type: "ended", State: core.StateCompleted}, again); err != nil {
			t.Fatal(err)
		}
		b.State = core.StateFailed
		mb := meterOf(b, 0, end.Add(48*time.Hour), core.OrgIndustry, 0)
		if err := db.UpdateJobWithMeter(ctx, b, core.Event{Type: "ended", State: core.StateFailed}, mb); err != nil {
			t.Fatal(err)
		}

		tests := map[string]struct {
			f    store.MeterFilter
			want []core.Meter
		}{
			"all, by end":     {f: store.MeterFilter{}, want: []core.Meter{m0, m1, mb}},
			"one org":         {f: store.MeterFilter{Org: "org-p1"}, want: []core.Meter{m0, m1}},
			"one project":     {f: store.MeterFilter{Project: "p2"}, want: []core.Meter{mb}},
			"one job":         {f: store.MeterFilter{Job: a.ID}, want: []core.Meter{m0, m1}},
			"from, inclusive": {f: store.MeterFilter{From: m1.End}, want: []core.Meter{m1, mb}},
			"to, exclusive":   {f: store.MeterFilter{To: mb.End}, want: []core.Meter{m0, m1}},
			"nothing":         {f: store.MeterFilter{Org: "nobody"}},
		}
		for name, tc := range tests {
			got, _, err := db.ListMeters(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("%s: ListMeters (-want +got):\n%s", name, d)
			}
		}
		capped, err := db.CappedHours(ctx, "p1")
		if err != nil || capped != m0.CappedHours+m1.CappedHours || capped != 12 {
			t.Errorf("CappedHours(p1) = %v, %v; want %v (two runs of 4 accelerators for 1.5 h)", capped, err, m0.CappedHours+m1.CappedHours)
		}

		// The report over what the store holds equals the sum of the
		// meters written, whatever the grouping.
		all, _, _ := db.ListMeters(ctx, store.MeterFilter{})
		// Pages of one meter walk them all, in order, then stop.
		var paged []core.Meter
		f := store.MeterFilter{Limit: 1}
		for range 5 {
			page, next, err := db.ListMeters(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if d := cmp.Diff(all, paged); d != "" {
			t.Errorf("pages of 1 (-all +paged):\n%s", d)
		}
		if _, _, err := db.ListMeters(ctx, store.MeterFilter{Cursor: "x"}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor x: %v, want ErrBadCursor", err)
		}
		for _, by := range meter.Groupings {
			rows, err := meter.Summarise(all, by, "day")
			if err != nil {
				t.Fatal(err)
			}
			var cost, kwh float64
			for _, r := range rows {
				cost, kwh = cost+r.Cost, kwh+r.EnergyKWh
			}
			if want := m0.Cost + m1.Cost + mb.Cost; cost != want || kwh != m0.EnergyKWh+m1.EnergyKWh+mb.EnergyKWh {
				t.Errorf("by %s: cost %v, energy %v; want %v, %v", by, cost, kwh, want, m0.EnergyKWh+m1.EnergyKWh+mb.EnergyKWh)
			}
		}
	})
}

// A meter commits with the job's end or not at all: a meter that cannot
// be written leaves the job as it was, and a job that does not exist gets
// no meter.
func TestMeterSameTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := submitOne(t, db, jobOf("a", "ada", "p1"))
		end := t0.Truncate(time.Microsecond).Add(time.Hour)
		bad := meterOf(j, 0, end, core.OrgResearch, 0)
		bad.JobID = 0
		j.State = core.StateCompleted
		if err := db.UpdateJobWithMeter(ctx, j, core.Event{Type: "ended", State: core.StateCompleted}, bad); err == nil {
			t.Fatal("a meter without a job id was written")
		}
		got, err := db.GetJob(ctx, j.ID)
		if err != nil || got.State != core.StatePending {
			t.Errorf("after a failed meter the job is %q (%v), want pending: the update must roll back", got.State, err)
		}
		if evs, _ := db.JobEvents(ctx, j.ID); len(evs) != 1 {
			t.Errorf("events = %d, want 1: the ended event must roll back", len(evs))
		}
		missing := j
		missing.ID = 98765
		m := meterOf(missing, 0, end, core.OrgResearch, 0)
		if err := db.UpdateJobWithMeter(ctx, missing, core.Event{Type: "ended"}, m); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateJobWithMeter(missing job) = %v, want ErrNotFound", err)
		}
		if ms, _, _ := db.ListMeters(ctx, store.MeterFilter{}); len(ms) != 0 {
			t.Errorf("meters = %+v, want none", ms)
		}
	})
}
