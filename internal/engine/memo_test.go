package engine

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// TestAccountMemoCollisions: accounts whose keys share a memo slot (same
// lengths, same last bytes of the org) still get their own records, and
// their jobs their own project and class.
func TestAccountMemoCollisions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FairShare.OrgKind = map[string]string{"x-12345678": core.OrgIndustry, "y-12345678": core.OrgPublic}
	e := New(cfg, []core.Site{site("a", pool("gpu", 4, 8))})
	orgs := []string{"x-12345678", "y-12345678"}
	if acctSlot(&sched.Account{Org: orgs[0], Project: "p", User: "u"}) != acctSlot(&sched.Account{Org: orgs[1], Project: "p", User: "u"}) {
		t.Fatal("the keys should share a slot; the test checks nothing")
	}
	for i := range 20 {
		org := orgs[i%2]
		e.Apply(Submitted{Job: mkjob(int64(i+1), "1").Project(org, org+"/p").j})
		j := e.jobs.get(core.JobID(i + 1))
		if j.acct.key.Org != org || j.acct.key.Project != org+"/p" {
			t.Fatalf("job %d of %s got account %+v", i+1, org, j.acct.key)
		}
		if j.proj != e.projects[org+"/p"] {
			t.Fatalf("job %d: wrong project record", i+1)
		}
		if want := cfg.FairShare.OrgKind[org]; j.class != want || e.classNames[j.cls] != want {
			t.Fatalf("job %d: class %s (index %d), want %s", i+1, j.class, j.cls, want)
		}
	}
	if len(e.accounts) != 2 || len(e.acctList) != 2 {
		t.Fatalf("%d accounts, want 2", len(e.accounts))
	}
	e.Step(t0)
	for _, c := range []string{core.OrgIndustry, core.OrgPublic} {
		if got := e.classes[e.classIndex(c)]; got != 10_000 {
			t.Errorf("class %s holds %s, want 10", c, got)
		}
	}
}

// TestShapesComeBack: a shape that empties is forgotten and comes back as
// a new one would, and the forgotten ones kept for that are bounded.
func TestShapesComeBack(t *testing.T) {
	e := New(Config{}, []core.Site{site("a", pool("gpu", 2, 8))})
	now := t0
	id := int64(0)
	run := func(wall time.Duration) *shape {
		id++
		e.Apply(Submitted{Job: mkjob(id, "1").Walltime(wall).Submit(now).j})
		j := e.jobs.get(core.JobID(id))
		in, _ := e.Step(now)
		if len(starts(in)) != 1 {
			t.Fatalf("job %d did not start", id)
		}
		s := j.shape
		now = now.Add(time.Second)
		e.Apply(Ended{ID: core.JobID(id), State: core.StateCompleted, At: now})
		e.Step(now) // the shape empties and is forgotten
		if s.live || len(e.live) != 0 {
			t.Fatalf("job %d's shape is still live", id)
		}
		return s
	}
	a := run(time.Hour)
	b := run(2 * time.Hour)
	if a == b || a.key == b.key {
		t.Fatal("two walltimes should make two shapes")
	}
	if c := run(time.Hour); c != a {
		t.Fatal("the first shape's record did not come back")
	}
	// A job waiting in a shape that came back: the shape is as new.
	e.Apply(Submitted{Job: mkjob(100, "16").Nodes(2).Walltime(time.Hour).Submit(now).j})
	e.Step(now)
	e.Apply(Submitted{Job: mkjob(101, "1").Walltime(time.Hour).Submit(now).j})
	e.Step(now)
	if s := e.jobs.get(101).shape; s != a || !s.live || len(s.q) != 1 || s.q[0].ID != 101 {
		t.Fatalf("job 101's shape: %p live %v, want %p with job 101 queued", s, s.live, a)
	}
	e.Apply(Ended{ID: 100, State: core.StateCompleted, At: now})
	e.Apply(Cancelled{ID: 101, At: now})
	now = now.Add(time.Minute)
	e.Step(now)
	for i := range maxDeadShapes + 10 {
		run(time.Duration(i+3) * time.Hour)
	}
	if len(e.shapes) > maxDeadShapes+1 || e.deadShapes > maxDeadShapes {
		t.Fatalf("%d shapes kept (%d forgotten), want at most %d", len(e.shapes), e.deadShapes, maxDeadShapes+1)
	}
	dead := 0
	for _, s := range e.shapes {
		if !s.live {
			dead++
		}
	}
	if dead != e.deadShapes {
		t.Fatalf("%d forgotten shapes in the map, counted %d", dead, e.deadShapes)
	}
}
