package engine

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gigafactory/gigafactory/internal/core"
)

// checkPicture checks the router's picture kept as jobs come and go
// against one counted afresh: every pending job routed to a site (or
// pinned to one it may run at) is counted once, nothing else is, and the
// per-pool and per-site sums are the sums of what is counted.
func (f *Federation) checkPicture() error {
	e := f.Engine
	want := map[core.JobID]bool{}
	for _, list := range [][]*job{e.order, e.fresh} {
		for _, j := range list {
			if j.State != core.StatePending {
				continue
			}
			r := f.routes[j.ID]
			if j.Spec.Site != "" && (r == nil || r.site != noSite) || j.Spec.Site == "" && r != nil && r.site != noSite {
				want[j.ID] = true
			}
		}
	}
	for id := range want {
		if _, ok := f.counted[id]; !ok {
			return fmt.Errorf("pending job %d routed to %s is not counted", id, f.queuedAt(e.jobs.get(id)))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.counted)) {
		if !want[id] {
			j := e.jobs.get(id)
			state := "gone"
			if j != nil {
				state = string(j.State)
			}
			return fmt.Errorf("job %d (%s) is counted, but is not a routed pending job", id, state)
		}
	}
	p := &f.pic
	queued, work, multi := make([]core.Milli, len(p.queued)), make([]int64, len(p.work)), make([]int, len(p.multi))
	pend := make([][nClasses]core.Milli, len(p.pend))
	for _, d := range f.counted {
		if d.pool >= 0 {
			queued[d.pool] += d.need
			work[d.pool] += d.work
			if d.multi {
				multi[d.pool]++
			}
		}
		pend[d.site][d.class] += d.need
	}
	if !slices.Equal(queued, p.queued) || !slices.Equal(work, p.work) || !slices.Equal(multi, p.multi) {
		return fmt.Errorf("pool sums queued %v work %v multi %v, counted afresh %v %v %v", p.queued, p.work, p.multi, queued, work, multi)
	}
	for si := range pend {
		if pend[si] != p.pend[si] {
			return fmt.Errorf("site %d: the classes wait for %v, counted afresh %v", si, p.pend[si], pend[si])
		}
	}
	return nil
}
