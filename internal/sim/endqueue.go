package sim

import (
	"math/bits"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// endQueue orders running jobs by end time, then id, as a calendar: one bucket per second of virtual time over a ring of
// queueRing seconds, each bucket sorted only when it becomes the first;
// ends further out wait in an endHeap until the ring reaches them. On the
// EU network it holds 160,000 runs, and a heap sifted through 9 levels of
// them on every end; a bucket holds the dozen that end in that second.
//
// (end, id) is a total order, so the pop sequence does not depend on the
// buckets' or the heap's shape. A run taken out early (remove) bumps its gen; its entry goes stale and
// is dropped when it comes first.
type endQueue struct {
	ring   [][]endEntry
	full   []uint64 // bit per ring slot: not empty
	cur    int64    // bucket of the last pop; nothing is pushed before it
	sorted int64    // the bucket kept sorted (the first), or -1
	far    endHeap  // ends at or past cur+queueRing
	live   int
	stale  int // removed runs whose entries are still queued
}

const queueRing = 1 << 17 // seconds: 36 hours

func newEndQueue() *endQueue {
	return &endQueue{ring: make([][]endEntry, queueRing), full: make([]uint64, queueRing/64), sorted: -1}
}

func bucketOf(d time.Duration) int64 { return int64(d / time.Second) }

// Len is the number of runs queued.
func (q *endQueue) Len() int { return q.live }

// push queues r's run. The entry carries what the run's end needs (its
// id, start, submission, size, class and site), so that ending it does
// not touch r, whose record has long left the cache by then; keep says
// whether the entry also keeps r (for removals, requeues and jobs.csv).
func (q *endQueue) push(r *running, keep bool) {
	q.live++
	q.insert(entryOf(r, keep))
}

// entryOf is r's run as the end queue holds it.
func entryOf(r *running, keep bool) endEntry {
	e := endEntry{end: r.end, id: r.id, gen: r.gen, start: r.start, submit: r.arr.Submit,
		milli: r.arr.Milli, cls: r.cls, site: int32(r.site), timeout: r.timeout, requeue: r.requeue}
	if keep {
		e.r = r
	}
	return e
}

func (q *endQueue) insert(e endEntry) {
	b := max(bucketOf(e.end), q.cur)
	if b >= q.cur+queueRing {
		q.far.pushEntry(e)
		return
	}
	i := b % queueRing
	s := q.ring[i]
	if b == q.sorted {
		at, _ := slices.BinarySearchFunc(s, e, func(x, y endEntry) int {
			if endLess(&x, &y) {
				return -1
			}
			if endLess(&y, &x) {
				return 1
			}
			return 0
		})
		s = slices.Insert(s, at, e)
	} else {
		s = append(s, e)
	}
	q.ring[i] = s
	q.full[i/64] |= 1 << (i % 64)
}

// first returns the first live entry's bucket slot, sorting the bucket if
// needed; ok is false when the queue is empty.
func (q *endQueue) first() (slot int64, ok bool) {
	for {
		b, found := q.nextBucket()
		if !found {
			if len(q.far.es) == 0 {
				return 0, false
			}
			// The ring is empty: bring the far ends within reach.
			q.cur = max(q.cur, bucketOf(q.far.es[0].end))
			q.migrate()
			continue
		}
		i := b % queueRing
		s := q.ring[i]
		if q.sorted != b {
			slices.SortFunc(s, func(x, y endEntry) int {
				if endLess(&x, &y) {
					return -1
				}
				return 1
			})
			q.sorted = b
		}
		// Drop stale entries at the front.
		k := 0
		if q.stale > 0 {
			for k < len(s) && s[k].r != nil && s[k].gen != s[k].r.gen {
				k++
				q.stale--
			}
		}
		if k == len(s) {
			q.clearSlot(i)
			continue
		}
		if k > 0 {
			q.ring[i] = s[k:]
		}
		return b, true
	}
}

// nextBucket finds the first non-empty bucket at or after cur.
func (q *endQueue) nextBucket() (int64, bool) {
	start := q.cur % queueRing
	for n := int64(0); n < queueRing; {
		i := (start + n) % queueRing
		w := q.full[i/64] >> (i % 64)
		if w != 0 {
			return q.cur + n + int64(bits.TrailingZeros64(w)), true
		}
		n += 64 - i%64
	}
	return 0, false
}

func (q *endQueue) clearSlot(i int64) {
	s := q.ring[i]
	clear(s)
	if cap(s) > 256 {
		s = nil
	}
	q.ring[i] = s[:0]
	q.full[i/64] &^= 1 << (i % 64)
}

// migrate moves far ends that the ring now covers into it.
func (q *endQueue) migrate() {
	for len(q.far.es) > 0 && bucketOf(q.far.es[0].end) < q.cur+queueRing {
		e := q.far.es[0]
		q.far.popEntry()
		q.insert(e)
	}
}

// peek returns the first run's entry without taking it out; the entry is
// valid until the queue next changes.
func (q *endQueue) peek() (*endEntry, bool) {
	b, ok := q.first()
	if !ok {
		return nil, false
	}
	return &q.ring[b%queueRing][0], true
}

// pop takes out the first run; the queue must not be empty (peek first).
func (q *endQueue) pop() endEntry {
	b, _ := q.first()
	i := b % queueRing
	s := q.ring[i]
	r := s[0]
	s[0] = endEntry{}
	if len(s) == 1 {
		q.clearSlot(i)
	} else {
		q.ring[i] = s[1:]
	}
	q.live--
	if b > q.cur {
		q.cur = b
		q.migrate()
	}
	return r
}

// remove takes r out of the queue; r must have been pushed with keep.
func (q *endQueue) remove(r *running) {
	r.gen++
	q.live--
	q.stale++
}

// runs returns the runs queued with keep (in no particular order).
func (q *endQueue) runs() []*running {
	rs := make([]*running, 0, q.live)
	for i, s := range q.ring {
		if q.full[i/64]&(1<<(i%64)) == 0 {
			continue
		}
		for k := range s {
			if e := &s[k]; e.r != nil && e.gen == e.r.gen {
				rs = append(rs, e.r)
			}
		}
	}
	for k := range q.far.es {
		if e := &q.far.es[k]; e.r != nil && e.gen == e.r.gen {
			rs = append(rs, e.r)
		}
	}
	return rs
}

// endHeap holds the ends endQueue's ring does not reach yet: a 4-ary
// min-heap by (end, id) of entries that carry their keys, so sifting
// compares without touching the runs. Stale entries (removed runs) are
// left for the queue to drop.
type endHeap struct {
	es []endEntry
}

// endEntry is a queued run: its key (end, id), and what its end needs.
type endEntry struct {
	end     time.Duration
	id      core.JobID
	start   time.Duration
	submit  time.Duration
	milli   core.Milli
	cls     *ClassResult
	r       *running // nil unless pushed with keep
	site    int32
	gen     uint32 // r.gen when pushed; stale once r.gen moves on
	timeout bool
	requeue bool
}

func endLess(a, b *endEntry) bool {
	if a.end != b.end {
		return a.end < b.end
	}
	return a.id < b.id
}

// pushEntry adds e.
func (h *endHeap) pushEntry(e endEntry) {
	h.es = append(h.es, e)
	es := h.es
	i := len(es) - 1
	x := es[i]
	for i > 0 {
		p := (i - 1) / 4
		if !endLess(&x, &es[p]) {
			break
		}
		es[i] = es[p]
		i = p
	}
	es[i] = x
}

// popEntry removes the first entry; the heap must not be empty.
func (h *endHeap) popEntry() {
	es := h.es
	n := len(es) - 1
	x := es[n]
	es[n] = endEntry{}
	es = es[:n]
	h.es = es
	if n == 0 {
		return
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if endLess(&es[k], &es[m]) {
				m = k
			}
		}
		if !endLess(&es[m], &x) {
			break
		}
		es[i] = es[m]
		i = m
	}
	es[i] = x
}
