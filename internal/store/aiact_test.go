package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

var aiactSettings = aiact.Settings{Peaks: []aiact.Peak{{Family: "H100", Name: "NVIDIA H100", BF16TFLOPS: 989, TDPW: 700}}}

// bigRun is a job of 4,096 H100s for 30 days training model "big" (4.2e24
// FLOP at 40%): three of them cross 1e25.
func bigRun(kind aiact.Kind, id core.JobID, at time.Time) aiact.Contribution {
	return aiact.Contribute(aiactSettings, kind, aiact.Job{ID: id, Org: "acme", Project: "rocket", Lineage: core.ModelLineage{Model: "big"},
		At: at, Final: true, Accelerators: 4096, AccelModel: "NVIDIA H100", Duration: 720 * time.Hour})
}

// TestAIActLedger: a sequence of jobs crossing 1e25 raises exactly one
// systemic-risk notification, dated at the submission that made it known;
// a contribution recorded twice counts once; a restart (the store
// reopened, the ledger rebuilt) raises nothing again.
func TestAIActLedger(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dsn := be.fresh(t)
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				c    aiact.Contribution
				want []aiact.NotificationKind
			}{
				{bigRun(aiact.Planned, 1, t0), []aiact.NotificationKind{aiact.CrossedGPAI}},
				{bigRun(aiact.Actual, 1, t0.Add(720*time.Hour)), nil},
				{bigRun(aiact.Actual, 1, t0.Add(720*time.Hour)), nil}, // the same run again
				{bigRun(aiact.Planned, 2, t0.Add(721*time.Hour)), nil},
				{bigRun(aiact.Planned, 3, t0.Add(722*time.Hour)), []aiact.NotificationKind{aiact.CrossedSystemic}},
				{bigRun(aiact.Actual, 2, t0.Add(1441*time.Hour)), nil},
				{bigRun(aiact.Actual, 3, t0.Add(1442*time.Hour)), nil},
			}
			for i, s := range steps {
				raised, err := db.RecordAIAct(ctx, s.c)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var kinds []aiact.NotificationKind
				for _, n := range raised {
					kinds = append(kinds, n.Kind)
				}
				if len(kinds) != len(s.want) || len(kinds) == 1 && kinds[0] != s.want[0] {
					t.Errorf("step %d (job %d %s) raised %v, want %v", i, s.c.Job, s.c.Kind, kinds, s.want)
				}
			}
			check := func(db *store.DB, when string) {
				ns, err := db.AIActNotifications(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(ns) != 2 || ns[1].Kind != aiact.CrossedSystemic || ns[1].Job != 3 || !ns[1].At.Equal(t0.Add(722*time.Hour)) || !ns[1].Projected {
					t.Fatalf("%s: notifications %+v, want gpai then systemic-risk dated at job 3's submission", when, ns)
				}
				if other, _ := db.AIActNotifications(ctx, "beta"); len(other) != 0 {
					t.Errorf("%s: beta sees %+v", when, other)
				}
				cs, err := db.AIActContributions(ctx)
				if err != nil {
					t.Fatal(err)
				}
				l := aiact.Evaluate(cs)
				if len(cs) != 6 || len(l.Models) != 1 || l.Models[0].Hardware.FLOP != 1.3e25 {
					t.Errorf("%s: %d contributions, models %+v; want 6 and 1.3e25 used", when, len(cs), l.Models)
				}
			}
			check(db, "before the restart")
			db.Close()

			db, err = store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if raised, err := db.RebuildAIAct(ctx); err != nil || len(raised) != 0 {
				t.Errorf("rebuild after restart raised %+v (%v), want nothing", raised, err)
			}
			if raised, err := db.RecordAIAct(ctx, bigRun(aiact.Actual, 3, t0.Add(1442*time.Hour))); err != nil || len(raised) != 0 {
				t.Errorf("a run recorded again after restart raised %+v (%v)", raised, err)
			}
			check(db, "after the restart")
		})
	}
}
