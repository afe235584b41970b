package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)

// jobOf builds a pending job; options adjust it.
func jobOf(name, user, project string, opts ...func(*core.Job)) core.Job {
	j := core.Job{
		Name: name, User: user, Project: project, Org: "org-" + project,
		Spec: core.JobSpec{
			Name: name, Project: project, Command: []string{"python", "train.py"},
			Accelerators: 8000, Model: "h100|h200", Walltime: core.Duration(2 * time.Hour),
			Env: map[string]string{"SEED": "1"}, Residency: []string{"DE", "FR"},
		},
		SubmitTime: t0,
	}
	for _, o := range opts {
		o(&j)
	}
	return j
}

func withKey(k string) func(*core.Job)       { return func(j *core.Job) { j.IdempotencyKey = k } }
func withState(s core.State) func(*core.Job) { return func(j *core.Job) { j.State = s } }
func withSite(s string) func(*core.Job)      { return func(j *core.Job) { j.Site = s } }

func submitOne(t testing.TB, db *store.DB, j core.Job) core.Job {
	t.Helper()
	got, created, err := db.SubmitJobs(context.Background(), []core.Job{j})
	if err != nil {
		t.Fatalf("SubmitJobs: %v", err)
	}
	if len(got) != 1 || len(created) != 1 {
		t.Fatalf("SubmitJobs returned %d jobs, %d flags; want 1", len(got), len(created))
	}
	return got[0]
}

func TestOrgsProjectsUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		orgs := []core.Org{
			{Name: "cern", Kind: core.OrgResearch, Country: "CH", CreatedAt: t0},
			{Name: "acme", Kind: core.OrgSME, Country: "DE", CreatedAt: t0.Add(time.Hour)},
		}
		for _, o := range orgs {
			if err := db.CreateOrg(ctx, o); err != nil {
				t.Fatalf("CreateOrg(%s): %v", o.Name, err)
			}
		}
		if err := db.CreateOrg(ctx, orgs[0]); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateOrg twice: err = %v, want ErrExists", err)
		}
		got, err := db.GetOrg(ctx, "cern")
		if err != nil {
			t.Fatal(err)
		}
		want := orgs[0]
		want.CreatedAt = t0.Truncate(time.Microsecond)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("GetOrg (-want +got):\n%s", d)
		}
		if _, err := db.GetOrg(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetOrg(nope): err = %v, want ErrNotFound", err)
		}
		list, err := db.ListOrgs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if names := orgNames(list); !cmp.Equal(names, []string{"acme", "cern"}) {
			t.Errorf("ListOrgs = %v, want [acme cern]", names)
		}

		p := core.Project{Name: "higgs", Org: "cern", Description: "bosons", BudgetAccelHrs: 1234.5, CreatedAt: t0}
		if err := db.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateProject(ctx, core.Project{Name: "widgets", Org: "acme"}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateProject(ctx, p); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateProject twice: err = %v, want ErrExists", err)
		}
		err = db.CreateProject(ctx, core.Project{Name: "orphan", Org: "ghost"})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "ghost") {
			t.Errorf("CreateProject with missing org: err = %v, want ErrNotFound naming the org", err)
		}
		gotP, err := db.GetProject(ctx, "higgs")
		if err != nil {
			t.Fatal(err)
		}
		p.CreatedAt = p.CreatedAt.Truncate(time.Microsecond)
		if d := cmp.Diff(p, gotP); d != "" {
			t.Errorf("GetProject (-want +got):\n%s", d)
		}
		if _, err := db.GetProject(ctx, "orphan"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetProject(orphan): err = %v, want ErrNotFound", err)
		}
		for org, want := range map[string][]string{"": {"higgs", "widgets"}, "acme": {"widgets"}, "none": nil} {
			ps, err := db.ListProjects(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range ps {
				names = append(names, p.Name)
			}
			if !cmp.Equal(names, want) {
				t.Errorf("ListProjects(%q) = %v, want %v", org, names, want)
			}
		}

		u := core.User{Name: "ada", Email: "ada@cern.ch", Org: "cern", Role: core.RoleAdmin, CreatedAt: t0}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(ctx, u); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser twice: err = %v, want ErrExists", err)
		}
		if err := db.CreateUser(ctx, core.User{Name: "bob", Role: core.RoleUser}); err != nil {
			t.Fatal(err)
		}
		gotU, err := db.GetUser(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		u.CreatedAt = u.CreatedAt.Truncate(time.Microsecond)
		u.Kind = core.UserPerson // a user's kind defaults to person
		if d := cmp.Diff(u, gotU); d != "" {
			t.Errorf("GetUser (-want +got):\n%s", d)
		}
		if _, err := db.GetUser(ctx, "eve"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser(eve): err = %v, want ErrNotFound", err)
		}
		users, err := db.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 || users[0].Name != "ada" || users[1].Name != "bob" {
			t.Errorf("ListUsers = %+v, want ada, bob", users)
		}
		// The zero time round-trips as the zero time.
		if b, _ := db.GetUser(ctx, "bob"); !b.CreatedAt.IsZero() {
			t.Errorf("zero CreatedAt read back as %v", b.CreatedAt)
		}
	})
}

func orgNames(os []core.Org) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Name)
	}
	return out
}

func TestTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.CreateUser(ctx, core.User{Name: "ada", Role: core.RoleUser}); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte("gf_secret"))
		if err := db.CreateToken(ctx, "ada", h[:], "laptop"); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateToken(ctx, "ada", h[:], "again"); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateToken same hash: err = %v, want ErrExists", err)
		}
		other := sha256.Sum256([]byte("gf_other"))
		if err := db.CreateToken(ctx, "ghost", other[:], "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateToken for missing user: err = %v, want ErrNotFound", err)
		}
		u, err := db.UserByToken(ctx, h[:])
		if err != nil || u.Name != "ada" {
			t.Errorf("UserByToken = %+v, %v; want ada", u, err)
		}
		if _, err := db.UserByToken(ctx, other[:]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByToken(unknown): err = %v, want ErrNotFound", err)
		}
	})
}

func TestMeta(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.GetMeta(ctx, "bootstrap_done"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMeta before set: err = %v, want ErrNotFound", err)
		}
		for _, v := range []string{"1", "2"} {
			if err := db.SetMeta(ctx, "bootstrap_done", v); err != nil {
				t.Fatal(err)
			}
			if got, err := db.GetMeta(ctx, "bootstrap_done"); err != nil || got != v {
				t.Errorf("GetMeta = %q, %v; want %q", got, err, v)
			}
		}
	})
}

func TestSubmitRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := jobOf("a", "ada", "p1")
		b := jobOf("b", "ada", "p1", withState(core.StateRunning), withKey("k-b"))
		b.UpdateTime = t0.Add(time.Second)
		got, created, err := db.SubmitJobs(ctx, []core.Job{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(created, []bool{true, true}) {
			t.Errorf("created = %v, want [true true]", created)
		}
		if got[0].ID <= 0 || got[1].ID != got[0].ID+1 {
			t.Errorf("ids = %d, %d; want positive and consecutive", got[0].ID, got[1].ID)
		}
		if got[0].State != core.StatePending || got[1].State != core.StateRunning {
			t.Errorf("states = %s, %s; want pending (default), running (as given)", got[0].State, got[1].State)
		}
		if !got[0].UpdateTime.Equal(got[0].SubmitTime) {
			t.Errorf("UpdateTime %v, want SubmitTime %v by default", got[0].UpdateTime, got[0].SubmitTime)
		}
		for _, want := range got {
			stored, err := db.GetJob(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, stored); d != "" {
				t.Errorf("GetJob(%d) differs from what SubmitJobs returned (-submit +get):\n%s", want.ID, d)
			}
			if stored.SubmitTime != t0.Truncate(time.Microsecond) {
				t.Errorf("SubmitTime = %v, want %v at microsecond precision", stored.SubmitTime, t0)
			}
			evs, err := db.JobEvents(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEv := []core.Event{{JobID: want.ID, Seq: 1, Time: want.SubmitTime, Type: "submitted", State: want.State}}
			if d := cmp.Diff(wantEv, evs); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		}
		if _, err := db.GetJob(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob(9999): err = %v, want ErrNotFound", err)
		}
		if _, err := db.JobEvents(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("JobEvents(9999): err = %v, want ErrNotFound", err)
		}
		if _, _, err := db.SubmitJobs(ctx, []core.Job{jobOf("bad", "ada", "p1", withState("bogus"))}); err == nil {
			t.Error("SubmitJobs with an unknown state succeeded")
		}
	})
}

func TestUpdateJob(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := submitOne(t, db, jobOf("a", "ada", "p1"))
		us := t0.Truncate(time.Microsecond)
		start, end, code := us.Add(time.Minute), us.Add(time.Hour), 137
		j.State, j.Site, j.Reason, j.Handle, j.Attempt = core.StateFailed, "jsc", "killed", "pid:42", 1
		j.StartTime, j.EndTime, j.ExitCode, j.Signal = &start, &end, &code, "SIGKILL"
		j.EstimatedStart = &start
		j.Alloc = &core.Allocation{Site: "jsc", Pool: "h100", Nodes: []core.NodeAlloc{{Node: "n1", Accels: []int{0, 1}}, {Node: "n2", Accels: []int{3}, Milli: 250}}}
		j.UpdateTime = end
		if err := db.UpdateJob(ctx, j, core.Event{Type: "ended", State: core.StateFailed, Message: "signal 9"}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(j, got); d != "" {
			t.Errorf("after UpdateJob (-want +got):\n%s", d)
		}
		evs, _ := db.JobEvents(ctx, j.ID)
		if len(evs) != 2 || evs[1].Seq != 2 || evs[1].Type != "ended" || !evs[1].Time.Equal(end) {
			t.Errorf("events = %+v; want submitted then ended (seq 2, at the update time)", evs)
		}
		j.ID = 12345
		if err := db.UpdateJob(ctx, j, core.Event{Type: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateJob(missing): err = %v, want ErrNotFound", err)
		}
		if _, err := db.UpdateJobIf(ctx, j, core.StatePending, core.Event{Type: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateJobIf(missing): err = %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateJobIfRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		j := submitOne(t, db, jobOf("a", "ada", "p1"))
		const racers = 20
		var wg sync.WaitGroup
		wins := make(chan string, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := j
				next.State, next.Site = core.StateStarting, fmt.Sprintf("site-%d", i)
				ok, err := db.UpdateJobIf(ctx, next, core.StatePending, core.Event{Type: "started", State: core.StateStarting, Message: next.Site})
				if err != nil {
					t.Errorf("UpdateJobIf: %v", err)
				}
				if ok {
					wins <- next.Site
				}
			}()
		}
		wg.Wait()
		close(wins)
		var winners []string
		for w := range wins {
			winners = append(winners, w)
		}
		if len(winners) != 1 {
			t.Fatalf("%d racers won the pending->starting transition, want exactly 1: %v", len(winners), winners)
		}
		got, _ := db.GetJob(ctx, j.ID)
		if got.State != core.StateStarting || got.Site != winners[0] {
			t.Errorf("job is %s at %q, want starting at the winner's %q", got.State, got.Site, winners[0])
		}
		evs, _ := db.JobEvents(ctx, j.ID)
		if len(evs) != 2 || evs[1].Message != winners[0] {
			t.Errorf("events = %+v, want submitted + the winner's started only", evs)
		}
	})
}

func TestIdempotency(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const callers = 100
		var wg sync.WaitGroup
		ids := make([]core.JobID, callers)
		created := make([]bool, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				js, cr, err := db.SubmitJobs(ctx, []core.Job{jobOf(fmt.Sprint("try-", i), "ada", "p1", withKey("same"))})
				if err != nil {
					t.Errorf("SubmitJobs: %v", err)
					return
				}
				ids[i], created[i] = js[0].ID, cr[0]
			}()
		}
		wg.Wait()
		nCreated := 0
		for i := range callers {
			if ids[i] != ids[0] {
				t.Fatalf("caller %d got job %d, caller 0 got %d: one key must give one job", i, ids[i], ids[0])
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Errorf("%d callers were told they created the job, want 1", nCreated)
		}
		if n, _ := db.CountJobs(ctx, store.JobFilter{}); n != 1 {
			t.Errorf("CountJobs = %d, want 1", n)
		}

		// A key repeated within one call, the same key for another user,
		// and no key at all.
		js, cr, err := db.SubmitJobs(ctx, []core.Job{
			jobOf("x", "bob", "p1", withKey("k")), jobOf("y", "bob", "p1", withKey("k")),
			jobOf("z", "ada", "p1", withKey("k")), jobOf("n1", "bob", "p1"), jobOf("n2", "bob", "p1"),
			jobOf("again", "ada", "p1", withKey("same")),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(cr, []bool{true, false, true, true, true, false}) {
			t.Errorf("created = %v, want [true false true true true false]", cr)
		}
		if js[1].ID != js[0].ID || js[1].Name != "x" {
			t.Errorf("repeat in the call = job %d %q, want job %d \"x\"", js[1].ID, js[1].Name, js[0].ID)
		}
		if js[2].ID == js[0].ID || js[3].ID == js[4].ID {
			t.Errorf("distinct jobs share ids: %d %d %d %d", js[0].ID, js[2].ID, js[3].ID, js[4].ID)
		}
		if js[5].ID != ids[0] {
			t.Errorf("resubmission of ada's key got job %d, want %d", js[5].ID, ids[0])
		}
	})
}

func TestGroupCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const callers = 1000
		var wg sync.WaitGroup
		ids := make([]core.JobID, callers)
		start := make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				js, _, err := db.SubmitJobs(ctx, []core.Job{jobOf(fmt.Sprint("j", i), "ada", "p1")})
				if err != nil {
					t.Errorf("SubmitJobs: %v", err)
					return
				}
				ids[i] = js[0].ID
			}()
		}
		close(start)
		wg.Wait()
		seen := map[core.JobID]int{}
		for i, id := range ids {
			if prev, dup := seen[id]; dup {
				t.Fatalf("callers %d and %d both got job %d", prev, i, id)
			}
			seen[id] = i
		}
		sorted := append([]core.JobID(nil), ids...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
		if sorted[0] != 1 || sorted[callers-1] != callers {
			t.Errorf("ids span %d..%d, want 1..%d without gaps", sorted[0], sorted[callers-1], callers)
		}
		for i, id := range ids {
			j, err := db.GetJob(ctx, id)
			if err != nil || j.Name != fmt.Sprint("j", i) {
				t.Fatalf("job %d = %q, %v; want caller %d's job", id, j.Name, err, i)
			}
		}
		if n, _ := db.CountJobs(ctx, store.JobFilter{}); n != callers {
			t.Errorf("CountJobs = %d, want %d", n, callers)
		}
		commits, calls := db.CommitStats()
		t.Logf("%d calls in %d transactions", calls, commits)
		if calls != callers || commits >= calls {
			t.Errorf("%d calls took %d transactions; want the calls coalesced into fewer", calls, commits)
		}
		// Later submissions get larger ids, in order within a call.
		js, _, err := db.SubmitJobs(ctx, []core.Job{jobOf("l1", "ada", "p1"), jobOf("l2", "ada", "p1")})
		if err != nil {
			t.Fatal(err)
		}
		if js[0].ID != callers+1 || js[1].ID != callers+2 {
			t.Errorf("next ids = %d, %d; want %d, %d", js[0].ID, js[1].ID, callers+1, callers+2)
		}
	})
}

func TestListJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		states := []core.State{core.StatePending, core.StateRunning, core.StateCompleted}
		var batch []core.Job
		for i := range 250 {
			project := []string{"p1", "p2"}[i%2]
			user := []string{"ada", "bob", "cy"}[i%3]
			batch = append(batch, jobOf(fmt.Sprint("j", i), user, project, withState(states[i%3]), withSite([]string{"jsc", "lrz"}[i%2])))
		}
		all, _, err := db.SubmitJobs(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		tests := map[string]store.JobFilter{
			"all":               {},
			"project":           {Project: "p1"},
			"user+states":       {User: "ada", States: []core.State{core.StatePending, core.StateCompleted}},
			"org+site":          {Org: "org-p2", Site: "lrz"},
			"state none":        {States: []core.State{core.StateCancelled}},
			"project+user+site": {Project: "p2", User: "bob", Site: "lrz"},
			"an operator's":     {Sites: []string{"jsc", "hawk"}, User: "cy"},
			"operator, no site": {Sites: []string{"hawk"}},
		}
		for name, f := range tests {
			t.Run(name, func(t *testing.T) {
				var want []core.JobID
				for i := len(all) - 1; i >= 0; i-- {
					if matches(all[i], f) {
						want = append(want, all[i].ID)
					}
				}
				for _, limit := range []int{7, 30, 1000} {
					f := f
					f.Limit = limit
					var got []core.JobID
					pages := 0
					for {
						page, next, err := db.ListJobs(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						pages++
						if len(page) > limit {
							t.Fatalf("page of %d, limit %d", len(page), limit)
						}
						for _, j := range page {
							got = append(got, j.ID)
						}
						if next == "" {
							break
						}
						if pages > 300 {
							t.Fatal("pagination does not end")
						}
						f.Cursor = next
					}
					if d := cmp.Diff(want, got); d != "" {
						t.Errorf("limit %d: ids over all pages (-want +got):\n%s", limit, d)
					}
					if wantPages := max(1, (len(want)+limit-1)/limit); pages != wantPages && !(len(want)%limit == 0 && pages == wantPages+1) {
						t.Errorf("limit %d: %d pages for %d jobs", limit, pages, len(want))
					}
				}
				n, err := db.CountJobs(ctx, f)
				if err != nil || n != len(want) {
					t.Errorf("CountJobs = %d, %v; want %d", n, err, len(want))
				}
			})
		}
		page, next, err := db.ListJobs(ctx, store.JobFilter{})
		if err != nil || len(page) != store.DefaultLimit || next == "" {
			t.Errorf("default limit: %d jobs, next %q, %v; want %d and a cursor", len(page), next, err, store.DefaultLimit)
		}
		if _, _, err := db.ListJobs(ctx, store.JobFilter{Cursor: "garbage!"}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("bad cursor: err = %v, want ErrBadCursor", err)
		}
	})
}

func matches(j core.Job, f store.JobFilter) bool {
	if len(f.States) > 0 {
		ok := false
		for _, s := range f.States {
			ok = ok || j.State == s
		}
		if !ok {
			return false
		}
	}
	return (f.Project == "" || j.Project == f.Project) && (f.User == "" || j.User == f.User) &&
		(f.Org == "" || j.Org == f.Org) && (f.Site == "" || j.Site == f.Site) &&
		(len(f.Sites) == 0 || slices.Contains(f.Sites, j.Site))
}

func TestUnfinishedJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var batch []core.Job
		all := []core.State{core.StatePending, core.StateCompleted, core.StateStarting, core.StateFailed,
			core.StateRunning, core.StateCancelled, core.StateTimeout, core.StatePending}
		for i, s := range all {
			batch = append(batch, jobOf(fmt.Sprint("j", i), "ada", "p1", withState(s)))
		}
		js, _, err := db.SubmitJobs(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		// Finishing one through UpdateJob removes it too.
		done := js[0]
		done.State = core.StateCompleted
		if err := db.UpdateJob(ctx, done, core.Event{Type: "ended", State: core.StateCompleted}); err != nil {
			t.Fatal(err)
		}
		got, err := db.UnfinishedJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []core.JobID
		for _, j := range got {
			ids = append(ids, j.ID)
		}
		want := []core.JobID{js[2].ID, js[4].ID, js[7].ID}
		if d := cmp.Diff(want, ids); d != "" {
			t.Errorf("UnfinishedJobs ids (-want +got):\n%s", d)
		}
	})
}

func TestAudit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if n, err := db.VerifyAudit(ctx); n != 0 || err != nil {
			t.Errorf("VerifyAudit on an empty log = %d, %v", n, err)
		}
		var entries []store.AuditEntry
		for i := range 10 {
			e, err := db.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "ada", Action: "job.submit", Object: fmt.Sprint("job/", i), Detail: `{"n":1}`})
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq != int64(i+1) {
				t.Errorf("entry %d got seq %d", i, e.Seq)
			}
			if i > 0 && e.PrevHash != entries[i-1].Hash {
				t.Errorf("entry %d does not link to the previous hash", i)
			}
			entries = append(entries, e)
		}
		got, err := db.ListAudit(ctx, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(entries[3:7], got); d != "" {
			t.Errorf("ListAudit(3, 4) (-want +got):\n%s", d)
		}
		if n, err := db.VerifyAudit(ctx); n != 10 || err != nil {
			t.Fatalf("VerifyAudit = %d, %v; want 10, nil", n, err)
		}

		if err := db.ExecRaw(ctx, `UPDATE audit SET detail = ? WHERE seq = ?`, `{"n":2}`, 4); err != nil {
			t.Fatal(err)
		}
		n, err := db.VerifyAudit(ctx)
		if !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "seq 4:") || n != 3 {
			t.Errorf("after tampering with seq 4: VerifyAudit = %d, %v; want 3 checked and an error naming seq 4", n, err)
		}
		// Re-hashing the tampered row does not help: the next link breaks.
		if err := db.ExecRaw(ctx, `UPDATE audit SET hash = 'forged' WHERE seq = ?`, 4); err != nil {
			t.Fatal(err)
		}
		if _, err := db.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "seq 4:") {
			t.Errorf("after forging seq 4's hash: err = %v, want one naming seq 4", err)
		}
	})
}

func TestAuditTruncation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 5 {
			if _, err := db.AppendAudit(ctx, store.AuditEntry{Actor: "root", Action: "a", Object: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.ExecRaw(ctx, `DELETE FROM audit WHERE seq = 5`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.VerifyAudit(ctx); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "seq 5:") {
			t.Errorf("after deleting the last entry: err = %v, want ErrAuditBroken naming seq 5", err)
		}
		if err := db.ExecRaw(ctx, `DELETE FROM audit WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.VerifyAudit(ctx); !errors.Is(err, store.ErrAuditBroken) || !strings.Contains(err.Error(), "seq 2:") {
			t.Errorf("after deleting seq 2: err = %v, want ErrAuditBroken naming seq 2", err)
		}
	})
}

func TestReopen(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := be.fresh(t)
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			v1, err := db.SchemaVersion(ctx)
			if err != nil || v1 < 1 {
				t.Fatalf("SchemaVersion = %d, %v", v1, err)
			}
			if db.Dialect() != be.name {
				t.Errorf("Dialect = %q, want %q", db.Dialect(), be.name)
			}
			if err := db.CreateOrg(ctx, core.Org{Name: "cern", Kind: core.OrgResearch}); err != nil {
				t.Fatal(err)
			}
			j := submitOne(t, db, jobOf("a", "ada", "p1"))
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.SubmitJobs(ctx, []core.Job{jobOf("late", "ada", "p1")}); !errors.Is(err, store.ErrClosed) {
				t.Errorf("SubmitJobs after Close: err = %v, want ErrClosed", err)
			}
			for range 2 {
				db2 := open(t, dsn)
				if v2, _ := db2.SchemaVersion(ctx); v2 != v1 {
					t.Errorf("schema version %d after reopen, want %d", v2, v1)
				}
				if _, err := db2.GetOrg(ctx, "cern"); err != nil {
					t.Errorf("org lost on reopen: %v", err)
				}
				// The id counter survives: new ids stay above old ones.
				k := submitOne(t, db2, jobOf("b", "ada", "p1"))
				if k.ID <= j.ID {
					t.Errorf("id %d after reopen, not above %d", k.ID, j.ID)
				}
				j = k
				db2.Close()
			}
		})
	}
}

// A call that fails must not take the calls it was batched with down with
// it: the committer retries each call of a failed batch on its own.
func TestSubmitBadCallIsolated(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const callers = 200
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := jobOf(fmt.Sprint("j", i), "ada", "p1")
				if i%50 == 7 {
					j.State = "bogus"
				}
				<-start
				_, _, errs[i] = db.SubmitJobs(ctx, []core.Job{j})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if bad := i%50 == 7; bad != (err != nil) {
				t.Errorf("call %d (bad: %v): err = %v", i, bad, err)
			}
		}
		if n, _ := db.CountJobs(ctx, store.JobFilter{}); n != callers-4 {
			t.Errorf("CountJobs = %d, want %d", n, callers-4)
		}
	})
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	db := open(t, ":memory:")
	j := submitOne(t, db, jobOf("a", "ada", "p1"))
	got, err := db.GetJob(ctx, j.ID)
	if err != nil || got.Name != "a" {
		t.Fatalf("GetJob = %+v, %v", got, err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A zero SubmitTime means now.
	before := time.Now().Add(-time.Second)
	z := submitOne(t, db, jobOf("now", "ada", "p1", func(j *core.Job) { j.SubmitTime = time.Time{} }))
	if z.SubmitTime.Before(before) || z.SubmitTime.After(time.Now()) || !z.UpdateTime.Equal(z.SubmitTime) {
		t.Errorf("zero SubmitTime became %v (update %v), want now", z.SubmitTime, z.UpdateTime)
	}
	// Another :memory: store is a different database.
	other := open(t, "sqlite::memory:")
	if _, err := other.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second :memory: store sees job %d: %v", j.ID, err)
	}
}

// Several processes (here: several DBs) opening one fresh database at once
// must apply the migrations exactly once, and then share it.
func TestConcurrentOpen(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := be.fresh(t)
			const n = 4
			dbs := make([]*store.DB, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					dbs[i], errs[i] = store.Open(ctx, dsn)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Open #%d: %v", i, err)
				}
				t.Cleanup(func() { dbs[i].Close() })
			}
			// Submissions from every DB interleave without id collisions.
			seen := map[core.JobID]bool{}
			var mu sync.Mutex
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range 20 {
						js, _, err := dbs[i].SubmitJobs(ctx, []core.Job{jobOf(fmt.Sprint(i, "-", k), "ada", "p1")})
						if err != nil {
							t.Errorf("db %d: %v", i, err)
							return
						}
						mu.Lock()
						if seen[js[0].ID] {
							t.Errorf("id %d handed out twice", js[0].ID)
						}
						seen[js[0].ID] = true
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if c, _ := dbs[0].CountJobs(ctx, store.JobFilter{}); c != n*20 {
				t.Errorf("CountJobs = %d, want %d", c, n*20)
			}
		})
	}
}

// Two processes (two DBs, two committers) racing on one idempotency key
// still make one job: the loser's transaction fails on the unique index or
// sees the winner's row, and its retry returns the winner's job.
func TestIdempotencyAcrossProcesses(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := be.fresh(t)
			dbs := []*store.DB{open(t, dsn), open(t, dsn)}
			for round := range 5 {
				key := fmt.Sprint("race-", round)
				const callers = 40
				ids := make([]core.JobID, callers)
				created := make([]bool, callers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						js, cr, err := dbs[i%2].SubmitJobs(ctx, []core.Job{jobOf("x", "ada", "p1", withKey(key))})
						if err != nil {
							t.Errorf("SubmitJobs: %v", err)
							return
						}
						ids[i], created[i] = js[0].ID, cr[0]
					}()
				}
				close(start)
				wg.Wait()
				n := 0
				for i := range callers {
					if ids[i] != ids[0] {
						t.Fatalf("round %d: callers got jobs %d and %d for one key", round, ids[0], ids[i])
					}
					if created[i] {
						n++
					}
				}
				if n != 1 {
					t.Errorf("round %d: %d callers created the job, want 1", round, n)
				}
			}
			if c, _ := dbs[0].CountJobs(ctx, store.JobFilter{}); c != 5 {
				t.Errorf("CountJobs = %d, want 5", c)
			}
		})
	}
}

func TestArrays(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var batch []core.Job
		// Two arrays and a plain job in one batch: each array takes its
		// first task's id.
		for k, ph := range []core.JobID{-1, -1, -1, -2, -2} {
			task := []int{0, 2, 4, 7, 9}[k]
			j := jobOf("arr", "ada", "p1")
			j.ArrayJobID, j.ArrayTaskID = ph, &task
			batch = append(batch, j)
		}
		batch = append(batch, jobOf("plain", "ada", "p1"))
		got, _, err := db.SubmitJobs(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		a, b := got[0].ID, got[3].ID
		for i, want := range []struct {
			array core.JobID
			disp  string
		}{{a, fmt.Sprintf("%d_0", a)}, {a, fmt.Sprintf("%d_2", a)}, {a, fmt.Sprintf("%d_4", a)}, {b, fmt.Sprintf("%d_7", b)}, {b, fmt.Sprintf("%d_9", b)}, {0, got[5].ID.String()}} {
			if got[i].ArrayJobID != want.array || got[i].DisplayID() != want.disp {
				t.Errorf("job %d: array %d, shown %s; want %d, %s", i, got[i].ArrayJobID, got[i].DisplayID(), want.array, want.disp)
			}
			stored, err := db.GetJob(ctx, got[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.DisplayID() != want.disp {
				t.Errorf("stored job %d shows as %s, want %s", i, stored.DisplayID(), want.disp)
			}
		}
		tasks, _, err := db.ListJobs(ctx, store.JobFilter{ArrayJobID: a})
		if err != nil || len(tasks) != 3 {
			t.Fatalf("tasks of array %d: %d, %v; want 3", a, len(tasks), err)
		}
		four := 4
		one, _, err := db.ListJobs(ctx, store.JobFilter{ArrayJobID: a, ArrayTaskID: &four})
		if err != nil || len(one) != 1 || one[0].ID != got[2].ID {
			t.Fatalf("task 4 of array %d: %v, %v", a, one, err)
		}
		named, _, err := db.ListJobs(ctx, store.JobFilter{Name: "plain"})
		if err != nil || len(named) != 1 {
			t.Fatalf("jobs named plain: %d, %v", len(named), err)
		}
		bad := jobOf("arr", "ada", "p1")
		zero := 0
		bad.ArrayTaskID = &zero
		if _, _, err := db.SubmitJobs(ctx, []core.Job{bad}); err == nil {
			t.Error("an array task without a placeholder array id was accepted")
		}
	})
}

// Arrays submitted at the same moment by many callers, whose calls the
// group commit joins in one transaction, each keep their own array id.
func TestArraysGroupCommitted(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const callers = 50
		var wg sync.WaitGroup
		got := make([][]core.Job, callers)
		start := make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var tasks []core.Job
				for k := range 3 {
					j := jobOf(fmt.Sprint("arr", i), "ada", "p1")
					j.ArrayJobID, j.ArrayTaskID = -1, &k
					tasks = append(tasks, j)
				}
				js, _, err := db.SubmitJobs(ctx, tasks)
				if err != nil {
					t.Errorf("SubmitJobs: %v", err)
					return
				}
				got[i] = js
			}()
		}
		close(start)
		wg.Wait()
		arrays := map[core.JobID]int{}
		for i, js := range got {
			for _, j := range js {
				if j.ArrayJobID != js[0].ID {
					t.Fatalf("caller %d: task %s is in array %d, want %d", i, j.DisplayID(), j.ArrayJobID, js[0].ID)
				}
			}
			if prev, dup := arrays[js[0].ArrayJobID]; dup {
				t.Fatalf("callers %d and %d share array %d", prev, i, js[0].ArrayJobID)
			}
			arrays[js[0].ArrayJobID] = i
		}
		if commits, calls := db.CommitStats(); commits >= calls {
			t.Logf("no two calls were committed together (%d commits, %d calls): the test proved less", commits, calls)
		}
	})
}
