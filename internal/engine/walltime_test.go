package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// With SiteWalltimes, a job that gives no walltime is planned with the
// default walltime of the site it runs at (which the daemon has the site
// enforce), not the engine's 24 h: a job behind it is reserved at that
// end, and a job whose walltime is over a site's maximum is not placed
// there.
func TestSiteDefaultWalltime(t *testing.T) {
	mk := func(id string, def, max time.Duration) core.Site {
		s := site(id, pool("gpu", 1, 4))
		s.Kind = core.SiteLocal
		s.DefaultWalltime, s.MaxWalltime = core.Duration(def), core.Duration(max)
		return s
	}
	tests := map[string]struct {
		sites   []core.Site
		fed     bool
		running *jobB // placed first; it gives no walltime unless set
		waiting *jobB
		// want: when the waiting job is reserved to start; or, when
		// zero, the reason it waits.
		want   time.Duration
		reason string
	}{
		"engine, job pinned to a site": {
			sites: []core.Site{mk("a", time.Hour, 48*time.Hour)}, running: mkjob(1, "4").Site("a"),
			waiting: mkjob(2, "4"), want: time.Hour,
		},
		"engine, job placed on any site": {
			sites: []core.Site{mk("a", 2*time.Hour, 48*time.Hour)}, running: mkjob(1, "4"),
			waiting: mkjob(2, "4"), want: 2 * time.Hour,
		},
		"federation, routed job": {
			sites: []core.Site{mk("a", 3*time.Hour, 48*time.Hour)}, fed: true, running: mkjob(1, "4"),
			waiting: mkjob(2, "4"), want: 3 * time.Hour,
		},
		"a walltime given is kept": {
			sites: []core.Site{mk("a", time.Hour, 48*time.Hour)}, fed: true, running: mkjob(1, "4").Walltime(5 * time.Hour),
			waiting: mkjob(2, "4"), want: 5 * time.Hour,
		},
		"site without a default: the engine's": {
			sites: []core.Site{mk("a", 0, 0)}, fed: true, running: mkjob(1, "4"),
			waiting: mkjob(2, "4"), want: 24 * time.Hour,
		},
		"pinned over the site's maximum": {
			sites: []core.Site{mk("a", time.Hour, 48*time.Hour)}, fed: true, running: mkjob(1, "1"),
			waiting: mkjob(2, "1").Walltime(72 * time.Hour).Site("a"),
			reason:  "walltime 72h0m0s is over the maximum of site a, 48h0m0s",
		},
		"routed over every site's maximum": {
			sites: []core.Site{mk("a", time.Hour, 48*time.Hour)}, fed: true, running: mkjob(1, "1"),
			waiting: mkjob(2, "1").Walltime(72 * time.Hour),
			reason:  "walltime",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SiteWalltimes = true
			var e interface {
				Apply(Event)
				Step(time.Time) ([]Intent, time.Time)
				Status(core.JobID) (Status, bool)
			}
			if tc.fed {
				e = NewFederation(cfg, Routing{}, tc.sites)
			} else {
				e = New(cfg, tc.sites)
			}
			e.Apply(tc.running.Ev())
			if got := startAll(e, first(e.Step(t0)), t0); len(got) != 1 {
				t.Fatalf("the first job did not start: %v", got)
			}
			e.Apply(tc.waiting.Submit(t0.Add(time.Second)).Ev())
			now := t0.Add(time.Second)
			got := startAll(e, first(e.Step(now)), now)
			st, _ := e.Status(2)
			if tc.reason != "" {
				if len(got) > 0 || !strings.Contains(st.Reason, tc.reason) {
					t.Fatalf("started %v; reason %q, want it to say %q", got, st.Reason, tc.reason)
				}
				return
			}
			if len(got) > 0 || st.EstimatedStart == nil || !st.EstimatedStart.Equal(t0.Add(tc.want)) {
				t.Fatalf("started %v; estimated start %v (%v), want %v", got, st.EstimatedStart, st.Reasons, t0.Add(tc.want))
			}
		})
	}
}
