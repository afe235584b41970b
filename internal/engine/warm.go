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
	found, missing := 0, 0
	for _, id := range ids {
		if j := t.get(id); j != nil {
			x += warmRecord(j)
			found++
		} else {
			missing++
		}
	}
	// The ids not in the table are arrivals (as in the twin): they take
	// the records the ends free (the free list is LIFO), and, when they
	// outnumber the ends, records already free.
	for k := 0; k < missing-found && k < len(e.free); k++ {
		x += warmRecord(e.free[len(e.free)-1-k])
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

// warmRecord reads a word of each of the 22 cache lines j's record spans
// (the offsets are in the comments; warmlayout_test.go pins them, the
// record's size and where records start in a line). An end reads a few of them; the
// submission that reuses the record next writes nearly all of them, and
// a write to a line that is not in cache stalls as a read does.
func warmRecord(j *job) uint64 {
	s := &j.Spec
	x := uint64(j.ID) + // 0
		uint64(len(s.Command)) + // 104
		uint64(s.Accelerators) + // 144
		uint64(len(s.QoS)) + // 208
		uint64(len(s.Residency)) + // 256
		uint64(len(s.Site)) + // 344
		uint64(s.NodesMax) + // 432
		uint64(s.TasksPerNode) + // 448
		uint64(len(s.MailUser)) + // 584
		uint64(len(s.Comment)) + // 648
		uint64(len(j.State)) + // 744
		uint64(j.Attempt) + // 864
		uint64(j.UpdateTime.Nanosecond()) + // 912
		uint64(j.req.Milli) + // 976
		uint64(len(j.req.Site)) + // 1024
		uint64(j.prio) + // 1192
		uint64(j.plMilli) + // 1264
		uint64(j.endB) // 1304
	if s.Array != nil { // 520
		x++
	}
	if j.Alloc != nil { // 792
		x++
	}
	if j.acct != nil { // 1136
		x++
	}
	if j.box != nil { // 1376
		x++
	}
	return x
}
