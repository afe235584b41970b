package daemon

import (
	"context"
	"time"

	"github.com/gigafactory/gigafactory/internal/award"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/meter"
)

// meterRun is the meter of j's run from its start to end, ended in state
// (a final state, or "requeued"), or nil when j did not run. finish
// writes it with the job's end, in one transaction (issue 15). Loop
// goroutine only: the co-funding cap used so far is read from the store,
// and only the loop writes meters, so no two ends race for it.
func (d *Daemon) meterRun(ctx context.Context, j core.Job, end time.Time, state string) *core.Meter {
	if j.StartTime == nil || j.Alloc == nil {
		return nil
	}
	start := *j.StartTime
	r := meter.Run{Job: j, Start: start, End: end, State: state, OrgKind: d.orgKinds[j.Org]}
	d.siteMu.Lock()
	for _, s := range d.sites {
		if s.ID == j.Alloc.Site {
			r.Site = s
		}
	}
	d.siteMu.Unlock()
	if a, ok := award.Current(d.awards.list, j.Project, start); ok {
		r.Award = &a
	}
	capUsed, err := d.st.CappedHours(ctx, j.Project)
	if err != nil {
		// The split then assumes nothing of the cap was used yet; the
		// meter is still written, so the run is never lost.
		d.log.Error("read the co-funding cap used", "project", j.Project, "err", err)
	}
	r.CapUsed = capUsed
	cfg := d.meterCfg
	cfg.Rates = d.awards.rates
	m := cfg.Meter(r)
	return &m
}

// updateJobEnd records j's update and event, and with them m when it is
// not nil.
func (d *Daemon) updateJobEnd(ctx context.Context, j core.Job, ev core.Event, m *core.Meter) error {
	if m == nil {
		return d.st.UpdateJob(ctx, j, ev)
	}
	return d.st.UpdateJobWithMeter(ctx, j, ev, *m)
}
