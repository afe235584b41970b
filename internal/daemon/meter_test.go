package daemon

import (
	"context"
	"github.com/gigafactory/gigafactory/internal/aiact"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

// A run cut short by its site's failure and the run that follows each get
// one meter, written with the job's state: the first as "requeued"
// (attempt 0), the second as it ended, cancelled (attempt 1), charged as
// the organisation's kind and the site's price say.
func TestMetersPerAttempt(t *testing.T) {
	dir := t.TempDir()
	factory := site
	factory.Kind, factory.PricePerAccelHour, factory.PUE = core.SiteFactory, 4, 1.25
	factory.Pools = []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 4, Nodes: 1, CPUsPerNode: 16, PowerW: 500}}
	h := startWith(t, dir, nil, func(o *Options) {
		o.Sites = []core.Site{factory}
		o.Engine.FairShare.OrgKind = map[string]string{"acme": core.OrgSME}
	})
	ctx := context.Background()
	cmd := []string{"sleep", "60"}
	lineage := &core.ModelLineage{Model: "acme-llm", Purpose: core.PurposePretraining}
	jobs, _, err := h.d.Submit(ctx, []core.Job{{Project: "p", Org: "acme", User: "u", Spec: core.JobSpec{Command: cmd, Accelerators: 2000, Lineage: lineage}}})
	if err != nil {
		t.Fatal(err)
	}
	id := jobs[0].ID
	h.wait(t, id, func(j core.Job) bool { return j.State == core.StateRunning })
	if _, err := h.d.SetSiteState(ctx, "local", core.SiteDown); err != nil {
		t.Fatal(err)
	}
	h.wait(t, id, func(j core.Job) bool { return j.Attempt == 1 })
	if _, err := h.d.SetSiteState(ctx, "local", core.SiteActive); err != nil {
		t.Fatal(err)
	}
	h.wait(t, id, func(j core.Job) bool { return j.State == core.StateRunning })
	// Let the second run last a while: cancelled in the second it started,
	// it can end at its start time and so have used nothing to record.
	time.Sleep(1100 * time.Millisecond)
	if _, err := h.d.Cancel(ctx, id, "u"); err != nil {
		t.Fatal(err)
	}
	j := h.wait(t, id, func(j core.Job) bool { return j.State.Terminal() })
	if j.State != core.StateCancelled {
		t.Fatalf("job ended %s (%s)", j.State, j.Reason)
	}
	// The AI Act ledger has both runs' compute, the lost one too.
	cs, err := h.st.AIActContributions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[int]bool{}
	for _, c := range cs {
		if c.Job == id && c.Kind == aiact.Actual && c.Hours > 0 {
			runs[c.Attempt] = true
		}
	}
	if !runs[0] || !runs[1] {
		t.Errorf("AI Act contributions of job %d's runs: %v, want attempts 0 (requeued) and 1", id, runs)
	}
	ms, _, err := h.st.ListMeters(ctx, store.MeterFilter{Job: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("%d meters, want 2 (one per attempt): %+v", len(ms), ms)
	}
	for i, want := range []string{"requeued", "cancelled"} {
		m := ms[i]
		if m.Attempt != i || m.State != want || m.OrgKind != core.OrgSME || m.Accelerators != 2 || m.AccelHours <= 0 {
			t.Errorf("meter %d: attempt %d, state %q, org kind %q, %v accelerators, %v h; want attempt %d, %q, sme, 2",
				i, m.Attempt, m.State, m.OrgKind, m.Accelerators, m.AccelHours, i, want)
		}
		if m.Cost != m.AccelHours*4 || m.Public != m.Cost || m.Private != 0 || !strings.Contains(m.Policy, "org_kind=sme") {
			t.Errorf("meter %d: cost %v public %v private %v policy %q; want all public under the sme rule", i, m.Cost, m.Public, m.Private, m.Policy)
		}
		if m.EnergyKWh <= 0 || m.PUE != 1.25 || m.PowerW != 500 || m.CarbonSource == "" {
			t.Errorf("meter %d: energy %v kWh, PUE %v, power %v, carbon source %q", i, m.EnergyKWh, m.PUE, m.PowerW, m.CarbonSource)
		}
	}
}
