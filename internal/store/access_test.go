package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// accessFixture stores an organisation, a project, two users and a call.
func accessFixture(t *testing.T, db *store.DB) core.Call {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateOrg(ctx, core.Org{Name: "acme", Kind: core.OrgStartup, Country: "DE", CreatedAt: t0}))
	must(db.CreateProject(ctx, core.Project{Name: "rocket", Org: "acme", CreatedAt: t0}))
	must(db.CreateUser(ctx, core.User{Name: "ada", Org: "acme", Role: core.RoleUser, CreatedAt: t0}))
	must(db.CreateUser(ctx, core.User{Name: "rev", Org: "uni", Role: core.RoleReviewer, CreatedAt: t0}))
	c := core.Call{ID: "EHPC-AIF-2026LS01", Title: "Large scale, first cut-off", Mode: core.QoSLargeScale, State: core.CallDraft,
		Opens: t0, Closes: t0.Add(14 * 24 * time.Hour), Kinds: []string{core.OrgStartup, core.OrgSME}, Sites: []string{"lumi"},
		Models: []string{"h100", "a100"}, TotalHours: 500_000, CreatedAt: t0, CreatedBy: "alloc"}
	must(db.CreateCall(ctx, c))
	return c
}

func TestCalls(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := accessFixture(t, db)
		if err := db.CreateCall(ctx, c); !errors.Is(err, store.ErrExists) {
			t.Errorf("second CreateCall: %v, want ErrExists", err)
		}
		got, err := db.GetCall(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(normCall(c), got); diff != "" {
			t.Errorf("GetCall (-want +got):\n%s", diff)
		}
		c.State = core.CallOpen
		c.TotalHours = 600_000
		if err := db.UpdateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		cs, err := db.ListCalls(ctx)
		if err != nil || len(cs) != 1 || cs[0].State != core.CallOpen || cs[0].TotalHours != 600_000 {
			t.Errorf("ListCalls = %+v, %v", cs, err)
		}
		if _, err := db.GetCall(ctx, "EHPC-AIF-2026LS99"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCall of none: %v", err)
		}
		if err := db.UpdateCall(ctx, core.Call{ID: "EHPC-AIF-2026LS99"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateCall of none: %v", err)
		}
	})
}

func normCall(c core.Call) core.Call {
	c.Opens, c.Closes, c.CreatedAt = c.Opens.Truncate(time.Microsecond), c.Closes.Truncate(time.Microsecond), c.CreatedAt.Truncate(time.Microsecond)
	return c
}

func newProposal(c core.Call) core.Proposal {
	return core.Proposal{Call: c.ID, Project: "rocket", Org: "acme", PI: "ada", Title: "A European LLM", Abstract: "pretraining",
		Hours: map[string]float64{"h100": 80_000, "a100": 5_000}, Start: t0.Truncate(time.Microsecond), End: t0.Add(180 * 24 * time.Hour).Truncate(time.Microsecond),
		Residency: []string{"DE"}, State: core.ProposalDraft, CreatedAt: t0.Truncate(time.Microsecond), UpdatedAt: t0.Truncate(time.Microsecond)}
}

func TestProposalsAndReviews(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := accessFixture(t, db)
		// Serials are handed out once each, also to concurrent creators.
		var wg sync.WaitGroup
		ids := make([]string, 6)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := db.CreateProposal(ctx, newProposal(c), 1001)
				if err != nil {
					t.Error(err)
				}
				ids[i] = p.ID
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("serial handed out twice: %s", id)
			}
			seen[id] = true
		}
		for _, want := range []string{"EHPC-AIF-2026LS01-1001", "EHPC-AIF-2026LS01-1006"} {
			if !seen[want] {
				t.Errorf("no proposal %s among %v", want, ids)
			}
		}
		bad := newProposal(c)
		bad.Call = "EHPC-AIF-2026LS99"
		if _, err := db.CreateProposal(ctx, bad, 1001); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("proposal to no call: %v", err)
		}
		bad = newProposal(c)
		bad.Project = "nope"
		if _, err := db.CreateProposal(ctx, bad, 1001); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("proposal of no project: %v", err)
		}

		p, err := db.GetProposal(ctx, "EHPC-AIF-2026LS01-1001")
		if err != nil {
			t.Fatal(err)
		}
		want := newProposal(c)
		want.ID = p.ID
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("GetProposal (-want +got):\n%s", diff)
		}
		sub := t0.Add(time.Hour).Truncate(time.Microsecond)
		p.State, p.SubmittedAt = core.ProposalSubmitted, &sub
		if err := db.UpdateProposal(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, _ := db.GetProposal(ctx, p.ID)
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("after UpdateProposal (-want +got):\n%s", diff)
		}

		r := core.Review{Proposal: p.ID, Reviewer: "rev", AssignedAt: t0.Truncate(time.Microsecond), AssignedBy: "alloc"}
		if err := db.AssignReview(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.AssignReview(ctx, r); !errors.Is(err, store.ErrExists) {
			t.Errorf("assigned twice: %v", err)
		}
		if err := db.AssignReview(ctx, core.Review{Proposal: p.ID, Reviewer: "ghost"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("assign a missing user: %v", err)
		}
		r.Technical, r.Scientific, r.Comments, r.SubmittedAt = 4, 5, "strong", &sub
		if err := db.UpdateReview(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateReview(ctx, core.Review{Proposal: p.ID, Reviewer: "ada"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update an unassigned review: %v", err)
		}
		for name, list := range map[string]func() ([]core.Review, error){
			"by proposal": func() ([]core.Review, error) { return db.ListReviews(ctx, p.ID, "") },
			"by reviewer": func() ([]core.Review, error) { return db.ListReviews(ctx, "", "rev") },
			"by call":     func() ([]core.Review, error) { return db.ListCallReviews(ctx, c.ID) },
		} {
			rs, err := list()
			if err != nil || len(rs) != 1 {
				t.Fatalf("%s: %v, %v", name, rs, err)
			}
			if diff := cmp.Diff(r, rs[0]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		tests := map[string]struct {
			f    store.ProposalFilter
			want int
		}{
			"all":         {store.ProposalFilter{}, 6},
			"call":        {store.ProposalFilter{Call: c.ID}, 6},
			"other call":  {store.ProposalFilter{Call: "x"}, 0},
			"submitted":   {store.ProposalFilter{State: core.ProposalSubmitted}, 1},
			"reviewer":    {store.ProposalFilter{Reviewer: "rev"}, 1},
			"no reviewer": {store.ProposalFilter{Reviewer: "ada"}, 0},
			"project":     {store.ProposalFilter{Project: "rocket", State: core.ProposalDraft}, 5},
		}
		for name, tc := range tests {
			ps, err := db.ListProposals(ctx, tc.f)
			if err != nil || len(ps) != tc.want {
				t.Errorf("%s: %d proposals (%v), want %d", name, len(ps), err, tc.want)
			}
		}

		cf := core.Conflict{Reviewer: "rev", Org: "acme", Reason: "former employer", DeclaredAt: t0.Truncate(time.Microsecond)}
		for _, reason := range []string{"first", "former employer"} {
			cf.Reason = reason
			if err := db.DeclareConflict(ctx, cf); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := db.ListConflicts(ctx, "rev")
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListConflicts = %v, %v", cs, err)
		}
		if diff := cmp.Diff(cf, cs[0]); diff != "" {
			t.Errorf("conflict (-want +got):\n%s", diff)
		}
	})
}

func TestMembers(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		accessFixture(t, db)
		m := core.Membership{Project: "rocket", User: "ada", Role: core.ProjectMember, AddedAt: t0.Truncate(time.Microsecond), AddedBy: "admin"}
		if err := db.AddMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		m.Role = core.ProjectPI // again: the role changes
		if err := db.AddMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := db.AddMember(ctx, core.Membership{Project: "rocket", User: "ghost", Role: core.ProjectMember}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("add a missing user: %v", err)
		}
		got, err := db.GetMember(ctx, "rocket", "ada")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("GetMember (-want +got):\n%s", diff)
		}
		if ms, err := db.ListMembers(ctx, "rocket"); err != nil || len(ms) != 1 {
			t.Errorf("ListMembers = %v, %v", ms, err)
		}
		if ms, err := db.Memberships(ctx, "ada"); err != nil || len(ms) != 1 || ms[0].Project != "rocket" {
			t.Errorf("Memberships = %v, %v", ms, err)
		}
		if err := db.RemoveMember(ctx, "rocket", "ada"); err != nil {
			t.Fatal(err)
		}
		if err := db.RemoveMember(ctx, "rocket", "ada"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second remove: %v", err)
		}
		if _, err := db.GetMember(ctx, "rocket", "ada"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMember after remove: %v", err)
		}
	})
}

func TestAwards(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := accessFixture(t, db)
		p, err := db.CreateProposal(ctx, newProposal(c), 1001)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		a := core.Award{ID: p.ID, Project: "rocket", Proposal: p.ID, Call: c.ID, Mode: c.Mode, Hours: map[string]float64{"h100": 80_000},
			ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(24 * time.Hour), Sites: []string{"lumi"}, Overdraft: 0.1, CreatedAt: now, CreatedBy: "alloc"}

		// DecideAward: the check sees the call's awards; its refusal
		// stores nothing.
		refused := errors.New("over the total")
		p.State = core.ProposalAwarded
		if err := db.DecideAward(ctx, a, p, func([]core.Award) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("refused DecideAward: %v", err)
		}
		if _, err := db.GetAward(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused award was stored: %v", err)
		}
		var seen int
		if err := db.DecideAward(ctx, a, p, func(as []core.Award) error { seen = len(as); return nil }); err != nil || seen != 0 {
			t.Fatalf("DecideAward: %v (saw %d)", err, seen)
		}
		if got, _ := db.GetProposal(ctx, p.ID); got.State != core.ProposalAwarded {
			t.Errorf("proposal %s after the award, want awarded", got.State)
		}
		got, err := db.GetAward(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("GetAward (-want +got):\n%s", diff)
		}
		if err := db.CreateAward(ctx, a); !errors.Is(err, store.ErrExists) {
			t.Errorf("second award with the id: %v", err)
		}
		expired := a
		expired.ID, expired.ValidFrom, expired.ValidTo = "EHPC-AIF-2025FL01-1001", now.Add(-48*time.Hour), now.Add(-time.Hour)
		if err := db.CreateAward(ctx, expired); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateAward(ctx, core.Award{ID: "x", Project: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("award of no project: %v", err)
		}
		var idsOf = func(as []core.Award) []string {
			var out []string
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		all, err := db.ListAwards(ctx, "rocket")
		if err != nil || !cmp.Equal(idsOf(all), []string{expired.ID, a.ID}) {
			t.Errorf("ListAwards = %v, %v", idsOf(all), err)
		}
		if none, _ := db.ListAwards(ctx, "other"); len(none) != 0 {
			t.Errorf("another project's awards: %v", idsOf(none))
		}
		active, err := db.AwardsActive(ctx)
		if err != nil || !cmp.Equal(idsOf(active), []string{a.ID}) {
			t.Errorf("AwardsActive = %v, %v; want only %s", idsOf(active), err, a.ID)
		}
		if byCall, _ := db.ListCallAwards(ctx, c.ID); !cmp.Equal(idsOf(byCall), []string{a.ID, expired.ID}) && !cmp.Equal(idsOf(byCall), []string{expired.ID, a.ID}) {
			t.Errorf("ListCallAwards = %v", idsOf(byCall))
		}

		// An extension: more hours, later end; the expired award becomes
		// active again.
		expired.ValidTo = now.Add(48 * time.Hour)
		expired.Hours = map[string]float64{"h100": 90_000, "a100": 100}
		if err := db.UpdateAward(ctx, expired); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.GetAward(ctx, expired.ID); !cmp.Equal(got, expired) {
			t.Errorf("after UpdateAward: %+v, want %+v", got, expired)
		}
		if active, _ := db.AwardsActive(ctx); len(active) != 2 {
			t.Errorf("AwardsActive after the extension: %v", idsOf(active))
		}
		if err := db.UpdateAward(ctx, core.Award{ID: "none"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateAward of none: %v", err)
		}
	})
}
