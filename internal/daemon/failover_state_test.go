package daemon

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/store"
)

// tenantJob is a simulated run of accel accelerators for dur, charged to
// org's project org-p.
func tenantJob(org string, accel int, dur string) core.Job {
	j := tenant(org, core.JobSpec{Command: []string{"true"}, Accelerators: core.Milli(accel * 1000), Model: "virtual",
		Walltime: core.Duration(time.Hour), Env: map[string]string{"GF_SIM_DURATION": dur}})
	j.Spec.Project = j.Project
	return j
}

// seen is what the scheduler says of the waiting jobs, recorded before a
// failover or restart and compared after it.
type seen struct {
	at      time.Time
	factors map[core.JobID]map[string]float64 // job -> factor name -> value
	reasons map[core.JobID]string
	award   float64 // hours of the partly spent award used
}

// TestFailoverKeepsPrioritiesAndHolds (issue 19, item 2): the use of
// ended runs is rebuilt from the store by whichever controller leads
// next, so a failover to another controller, or the restart of the only
// one, changes no priority and releases no held job. Account a has run
// (its fair-share factor is below a fresh account's), project b has spent
// its budget (its next job is held), project c has spent part of its
// award; e's run fills the site, so the waiting jobs stay waiting, and
// the next leader adopts it.
func TestFailoverKeepsPrioritiesAndHolds(t *testing.T) {
	tests := map[string]struct {
		failover bool // to a second controller; else the only one restarts
	}{
		"failover to a follower":         {failover: true},
		"restart of the only controller": {failover: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "gf.db")
			now := time.Now().UTC()
			// 0.001 accelerator-hours = 3.6 accelerator-seconds: one run
			// of 4 for 1.5 s spends it. The award's 36 are not spent by
			// 4 for 1 s.
			awards := &awardList{}
			awards.set(core.Award{ID: "EHPC-AIF-2026FO01-0001", Project: "c-p", Hours: map[string]float64{"virtual": 0.01},
				ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(time.Hour)})
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, org := range []string{"a", "b", "c", "d", "e"} {
				if err := st.CreateOrg(ctx, core.Org{Name: org, Kind: core.OrgResearch, Country: "LU", CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
				p := core.Project{Name: org + "-p", Org: org, CreatedAt: now}
				if org == "b" {
					p.BudgetAccelHrs = 0.001
				}
				if err := st.CreateProject(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			// One site for every controller, as a real site outlives
			// them: the next leader adopts what runs there.
			site := &countingSim{Driver: sim.New(time.Now)}
			withAwards := func(o *Options) {
				o.Awards = awards.get
				o.Drivers = map[string]driver.Driver{"sim": site}
			}
			lead := func(id string) Leadership {
				return Leadership{ID: id, Address: "http://" + id, Lease: 600 * time.Millisecond, Renew: 100 * time.Millisecond,
					PickUp: 50 * time.Millisecond, Exclusive: !tc.failover}
			}
			a := startElectedOpts(t, dsn, lead("a"), withAwards)
			waitFor(t, "a to lead", func() bool { return a.d.Ready() && a.d.Leading() })
			var b *elected
			if tc.failover {
				b = startElectedOpts(t, dsn, lead("b"), withAwards)
				waitFor(t, "b to follow", b.d.Ready)
			}

			// Runs that end: a's use, b's budget spent, c's award in part.
			ran, _, err := a.d.Submit(ctx, []core.Job{tenantJob("a", 4, "1500ms"), tenantJob("b", 4, "1500ms"), tenantJob("c", 4, "1s")})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first runs to end", func() bool {
				for _, j := range ran {
					if got, err := st.GetJob(ctx, j.ID); err != nil || got.State != core.StateCompleted {
						return false
					}
				}
				return true
			})
			// A run of e fills the site: the next jobs wait.
			hog, _, err := a.d.Submit(ctx, []core.Job{tenantJob("e", 8, "1h")})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "e's run to fill the site", func() bool {
				j, err := st.GetJob(ctx, hog[0].ID)
				return err == nil && j.State == core.StateRunning
			})
			waiting, _, err := a.d.Submit(ctx, []core.Job{tenantJob("a", 1, "1s"), tenantJob("b", 1, "1s"), tenantJob("c", 1, "1s"), tenantJob("d", 1, "1s")})
			if err != nil {
				t.Fatal(err)
			}
			ja, jb, jc, jd := waiting[0].ID, waiting[1].ID, waiting[2].ID, waiting[3].ID
			// The queue's fair-share factors are refreshed every
			// PriorityInterval: wait until a's use shows.
			before := observe(t, a.d, waiting, func(s seen) bool { return s.factors[ja]["fairshare"] < s.factors[jd]["fairshare"] })
			if r := before.reasons[jb]; !strings.HasPrefix(r, "project budget exhausted") {
				t.Fatalf("before: project b's job waits with %q, want its budget exhausted", r)
			}
			if before.award <= 0 || before.award >= 0.01 {
				t.Fatalf("before: award used %.6f hours, want part of 0.01", before.award)
			}

			// The leader stops; another (or the same, restarted) leads.
			a.stop()
			next := b
			if !tc.failover {
				next = startElectedOpts(t, dsn, lead("a"), withAwards)
			}
			waitFor(t, "the next controller to lead", func() bool { return next.d.Ready() && next.d.Leading() })
			after := observe(t, next.d, waiting, nil)
			elapsed := after.at.Sub(before.at)

			for _, id := range []core.JobID{ja, jc, jd} {
				for f, v := range before.factors[id] {
					got, ok := after.factors[id][f]
					// Use decays with a half-life of a week: over
					// the seconds a failover takes, by far less
					// than 1e-3. Age grows by those seconds.
					tol := 1e-3
					if f == "age" {
						tol = elapsed.Seconds()/(7*24*3600) + 1e-6
					}
					if !ok || math.Abs(got-v) > tol {
						t.Errorf("job %d: factor %s %.6f before, %.6f (present %v) after, %s later", id, f, v, got, ok, elapsed.Round(time.Millisecond))
					}
				}
			}
			if r := after.reasons[jb]; r != before.reasons[jb] {
				t.Errorf("project b's job waits with %q after, %q before: the budget's use was not rebuilt", r, before.reasons[jb])
			}
			if j, err := st.GetJob(ctx, jb); err != nil || j.State != core.StatePending {
				t.Errorf("project b's job after: %s, %v; want still pending", j.State, err)
			}
			if math.Abs(after.award-before.award) > 1e-6 {
				t.Errorf("award used %.6f hours after, %.6f before", after.award, before.award)
			}
			t.Logf("%s after %s: fair share of a %.6f -> %.6f (d %.6f), b %q, award %.6f h used",
				name, elapsed.Round(time.Millisecond), before.factors[ja]["fairshare"], after.factors[ja]["fairshare"],
				after.factors[jd]["fairshare"], after.reasons[jb], after.award)
		})
	}
}

// observe records, on the leading daemon d, the priority factors and
// reasons of the waiting jobs and the award's use of project c-p, once d
// knows them all and ready (when not nil) holds of them.
func observe(t *testing.T, d *Daemon, jobs []core.Job, ready func(seen) bool) seen {
	t.Helper()
	ctx := context.Background()
	var s seen
	waitFor(t, "the scheduler to explain every waiting job", func() bool {
		s = seen{at: time.Now(), factors: map[core.JobID]map[string]float64{}, reasons: map[core.JobID]string{}}
		for _, j := range jobs {
			ex, err := d.Explain(ctx, j.ID)
			if err != nil || ex.Status == nil || ex.Status.Reason == "" || strings.HasPrefix(ex.Status.Reason, "not yet considered") {
				return false
			}
			s.reasons[j.ID] = ex.Status.Reason
			if ex.Priority == nil {
				if !strings.HasPrefix(ex.Status.Reason, "project budget exhausted") {
					return false
				}
				continue
			}
			s.factors[j.ID] = map[string]float64{}
			for _, f := range ex.Priority.Factors {
				s.factors[j.ID][f.Name] = f.Value
			}
		}
		u, err := d.ProjectAward(ctx, "c-p")
		if err != nil || u.State == nil {
			return false
		}
		s.award = u.State.Used
		return ready == nil || ready(s)
	})
	return s
}
