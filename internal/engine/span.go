package engine

import (
	"fmt"
	"slices"

	"github.com/gigafactory/gigafactory/internal/sched"
)

// A gang that spans pools (sched's placeSpan: a whole site) gets an EASY
// reservation like any blocked job: sched.EarliestStart gives its nodes
// in the first pool and, in More, those of the others. Each pool's part
// is a hold of its own in e.holds, so backfill, which tries one hold at
// a time, sees it with its own pool; a part holds fewer nodes than the
// gang needs, so nothing backfilled there may run past the gang's start
// (sched.HoldSet.Spare is false for it). The first part is the job's
// hold (j.hold), the others hang from it (hold.span): they are made,
// placed on and freed together.

// setAsideSpan sets aside the other pools' parts of h, a job's EASY
// reservation across pools.
func (e *Engine) setAsideSpan(h *hold, more []sched.Earliest) {
	for _, m := range more {
		part := &hold{kind: h.kind, job: h.job, pool: m.Pool, nodes: m.Nodes, at: h.at, part: true}
		e.setAside(part)
		h.span = append(h.span, part)
	}
}

// placeOnHold places j on the nodes its hold h keeps: in h's pool, or,
// for a reservation across pools, over all its parts.
func (e *Engine) placeOnHold(j *job, h *hold) (sched.Placement, bool) {
	if len(h.span) == 0 {
		return e.cluster.PlaceOn(&j.req, h.hs)
	}
	hs := make([]*sched.HoldSet, 0, 1+len(h.span))
	hs = append(hs, h.hs)
	for _, part := range h.span {
		hs = append(hs, part.hs)
	}
	return e.cluster.PlaceOnSpan(&j.req, hs)
}

// freeSpan frees the other pools' parts of h (those not freed yet: a
// pass that reorders frees every EASY hold, parts too). h keeps them
// listed, so that reopen still sees their nodes.
func (e *Engine) freeSpan(h *hold) {
	for _, part := range h.span {
		if slices.Contains(e.holds, part) {
			e.freeHold(part)
		}
	}
}

// holdWhere says how many nodes h keeps and in which pools: "12500 nodes
// of train-a" or, across pools, "25000 nodes of train-a, train-b".
func (e *Engine) holdWhere(h *hold) string {
	n, names := len(h.nodes), e.cluster.Pools[h.pool].Name
	for _, part := range h.span {
		n += len(part.nodes)
		names += ", " + e.cluster.Pools[part.pool].Name
	}
	return fmt.Sprintf("%d %s of %s", n, plural(n, "node", "nodes"), names)
}
