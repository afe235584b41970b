package engine

import "github.com/gigafactory/gigafactory/internal/core"

// Warm reads what the events about the jobs ids will read (each job's
// slot in the job table, its record and, when it is placed, its nodes'
// state) so that those events, applied next, find it in cache. It changes
// nothing and returns a checksum of what it read, which callers ignore.
//
// Why: at scale the engine's per-job work is dominated by cache misses.
// The twin ends a dozen jobs per simulated second whose records were
// last touched hours earlier; applied one by one, each end waits for its
// table slot, then its record, then its node, in turn. Warm issues the
// loads of all the jobs in a batch level by level, so that their misses
// overlap instead of adding up. The live daemon need not call it.
//
//go:noinline
func (e *Engine) Warm(ids []core.JobID) uint64 {
	t := &e.jobs
	if t.n == 0 || len(ids) < 2 {
		return 0
	}
	var x uint64
	for _, id := range ids {
		x += uint64(t.slots[t.index(id)].id)
	}
	for _, id := range ids {
		if j := t.get(id); j != nil {
			// The record's lines that an end reads.
			x += uint64(len(j.State)) + uint64(j.plMilli) + uint64(j.ID)
			if j.acct != nil {
				x++
			}
		}
	}
	for _, id := range ids {
		if j := t.get(id); j != nil && j.placed {
			x += e.cluster.Warm(&j.pl)
			if j.box != nil {
				// The box goes back for reuse at the end, and the next
				// start writes it: read it now, with the others.
				x += j.box.Warm()
			}
		}
	}
	return x
}
