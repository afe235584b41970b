package daemon

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
)

// awardList is the awards a test's daemon reads, as the store would give
// them.
type awardList struct {
	mu     sync.Mutex
	awards []core.Award
}

func (l *awardList) get(context.Context) ([]core.Award, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]core.Award(nil), l.awards...), nil
}

func (l *awardList) set(a ...core.Award) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.awards = a
}

// An award is spent by the jobs that run on it; once spent, the project's
// next job waits with the award's reason; an extension lets it run; after
// a restart the award's use is the same, read from the store.
func TestAwardSpentHoldsAndExtensionReleases(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	// 0.002 virtual-hours = 7.2 accelerator-seconds.
	a := core.Award{ID: "EHPC-AIF-2026PG01-0001", Project: "a-p", Hours: map[string]float64{"virtual": 0.002},
		ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(time.Hour)}
	list := &awardList{}
	list.set(a)
	withAwards := func(o *Options) { o.Awards = list.get }
	h := startWith(t, dir, nil, withAwards)
	first := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "2.5"}, Accelerators: 2000}))
	h.wait(t, first, ended)
	second := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "1.5"}, Accelerators: 2000}))
	h.wait(t, second, ended)
	// The award book evaluates at most every awardEvery: wait until it has
	// seen the award spent, so that the third job meets the hold (on a
	// loaded machine it was once admitted in the window before).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if u, err := h.d.ProjectAward(context.Background(), "a-p"); err == nil && u.State != nil && u.State.Exhausted && u.Held != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the award book did not see the award spent within 10 s")
		}
	}
	third := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.status(t, third)
		if strings.HasPrefix(r, "award EHPC-AIF-2026PG01-0001 exhausted (") && strings.HasSuffix(r, " VIRTUAL-hours)") {
			break
		}
		if time.Now().After(deadline) {
			j, _ := h.st.GetJob(context.Background(), third)
			t.Fatalf("the third job is %s with reason %q, want held by the spent award", j.State, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := h.d.ProjectAward(context.Background(), "a-p")
	if err != nil {
		t.Fatal(err)
	}
	if u.State == nil || u.State.Used < 7.2/3600 || u.State.Used > 30.0/3600 || !u.State.Exhausted || !u.State.Warn {
		t.Fatalf("award state %+v, want at least the 7.2 accelerator-seconds awarded used (about 8; more on a slow machine), warned and exhausted", u.State)
	}
	audit, err := h.st.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, e := range audit {
		if e.Action == "award.warning" && e.Object == "award/"+a.ID {
			warned = true
			// A small award's figures are kept, not rounded to "0.0 of 0.0".
			if !strings.Contains(e.Detail, " of 0.002 VIRTUAL-hours used") {
				t.Errorf("award.warning detail %q, want the award's 0.002 hours", e.Detail)
			}
		}
	}
	if !warned {
		t.Error("no award.warning in the audit log")
	}
	// Another project is not held by it.
	other := h.submit(t, tenant("b", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	if j := h.wait(t, other, ended); j.State != core.StateCompleted {
		t.Errorf("another project's job: %s %q", j.State, j.Reason)
	}
	// The extension releases the held job.
	ext := a
	ext.Hours = map[string]float64{"virtual": 0.01}
	list.set(ext)
	if err := h.d.AwardsChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j := h.wait(t, third, ended); j.State != core.StateCompleted {
		t.Fatalf("after the extension the third job ended %s %q", j.State, j.Reason)
	}
	// Every run has ended: what the award was charged is all in the store.
	u, err = h.d.ProjectAward(context.Background(), "a-p")
	if err != nil {
		t.Fatal(err)
	}
	before := u.State.Used
	h.stop()
	h.stop = nil
	h = startWith(t, dir, nil, withAwards)
	u, err = h.d.ProjectAward(context.Background(), "a-p")
	if err != nil {
		t.Fatal(err)
	}
	// Times are kept to the microsecond: the same to well under 1e-6 h.
	if u.State == nil || math.Abs(u.State.Used-before) > 1e-6 {
		t.Fatalf("after a restart the award has %+v used, want %.6f as before", u.State, before)
	}
}

// Fair share remembers, across a restart, the use of runs that ended
// before it: a waiting job's fair-share factor is what it was.
func TestFairShareUsageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir, nil)
	used := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "1.5"}, Accelerators: 4000}))
	h.wait(t, used, ended)
	hog := h.submit(t, tenant("b", core.JobSpec{Command: []string{"sleep", "60"}, Accelerators: 4000}))
	h.wait(t, hog, func(j core.Job) bool { return j.State == core.StateRunning })
	waiting := h.submit(t, tenant("a", core.JobSpec{Command: []string{"true"}, Accelerators: 1000}))
	fair := func() (string, float64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ex, err := h.d.Explain(context.Background(), waiting)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Priority != nil {
				for _, f := range ex.Priority.Factors {
					if strings.Contains(strings.ToLower(f.Name), "fair") {
						return f.Note, f.Value
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no fair-share factor for job %d: %+v", waiting, ex)
			}
		}
	}
	note, before := fair()
	if before >= 1 {
		t.Fatalf("fair-share factor %.4f (%s) before the restart: account a's use is not counted", before, note)
	}
	h.stop()
	h.stop = nil
	h = start(t, dir, nil)
	note2, after := fair()
	if math.Abs(after-before) > 0.02 {
		t.Fatalf("fair-share factor %.4f (%s) after the restart, %.4f (%s) before", after, note2, before, note)
	}
}

// One award is spent at two sites of different models, each run charged
// at the exchange rate: an A100-hour is worth 1/2 H100-hour here.
func TestAwardChargedAcrossModels(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	a := core.Award{ID: "EHPC-AIF-2026FL01-0002", Project: "a-p", Hours: map[string]float64{"h100": 1},
		ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(time.Hour)}
	list := &awardList{}
	list.set(a)
	h := startWith(t, dir, nil, func(o *Options) {
		o.Awards = list.get
		o.ExchangeRates = map[string]float64{"h100": 1, "a100": 0.5}
		hs := core.Site{ID: "hsite", Kind: core.SiteLocal, Country: "DE", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "h", Model: "h100", AccelPerNode: 2, Nodes: 1, CPUsPerNode: 8}}}
		as := core.Site{ID: "asite", Kind: core.SiteLocal, Country: "DE", Driver: "local", State: core.SiteActive,
			Pools: []core.Pool{{Name: "a", Model: "a100", AccelPerNode: 2, Nodes: 1, CPUsPerNode: 8}}}
		o.Sites = []core.Site{hs, as}
		o.Drivers = map[string]driver.Driver{"hsite": o.Drivers["local"], "asite": o.Drivers["local"]}
	})
	hj := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "1"}, Accelerators: 2000, Model: "h100"}))
	aj := h.submit(t, tenant("a", core.JobSpec{Command: []string{"sleep", "1"}, Accelerators: 2000, Model: "a100"}))
	x, y := h.wait(t, hj, ended), h.wait(t, aj, ended)
	if x.Site != "hsite" || y.Site != "asite" {
		t.Fatalf("ran at %s and %s, want hsite and asite", x.Site, y.Site)
	}
	want := 2*x.EndTime.Sub(*x.StartTime).Hours() + 0.5*2*y.EndTime.Sub(*y.StartTime).Hours()
	u, err := h.d.ProjectAward(context.Background(), "a-p")
	if err != nil {
		t.Fatal(err)
	}
	if u.State == nil || u.State.Unit != "h100" || math.Abs(u.State.Used-want) > 1e-6 {
		t.Fatalf("award state %+v, want %.6f H100-hours used (the A100 run at half)", u.State, want)
	}
}
