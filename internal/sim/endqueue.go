package sim

import (
	"math/bits"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// endQueue orders running jobs by end time, then id, as a two-level
// calendar. The current window of 64 seconds has one bucket per second,
// each sorted only when it becomes the first; later ends, up to
// queueRing seconds ahead, are appended unsorted to one bucket per
// window, in a ring, and spread over the seconds' buckets when their
// window comes; ends further out wait in an endHeap until the ring
// reaches them.
//
// On the EU network it holds 160,000 runs. A heap would sift through 9
// levels of them on every end; a calendar of one bucket per second over
// the whole ring appends each start to a bucket that has left the cache.
// The window ring has 2,048 buckets, whose tails stay in cache, and a
// window's runs are spread once, in order, into the 64 seconds' buckets
// that the pops then read.
//
// (end, id) is a total order, so the pop sequence does not depend on the
// buckets' or the heap's shape. A run taken out early (remove) bumps its
// gen; its entry goes stale and is dropped when it comes first.
type endQueue struct {
	fine     [winSize][]endEntry // the current window's buckets, one per second
	fineHead [winSize]int        // popped entries at the front of each
	fineFull uint64              // bit per fine bucket: not empty
	coarse   [][]endEntry        // later windows, by window % windows
	full     []uint64            // bit per coarse slot: not empty
	cur      int64               // bucket (second) of the last pop; nothing is pushed before it
	sorted   int64               // the fine bucket kept sorted (the first), or -1
	far      endHeap             // ends in windows at or past cur's window + windows
	spare    [][]endEntry        // emptied windows' arrays, for windows that fill next
	live     int
	stale    int // removed runs whose entries are still queued
}

const (
	winBits   = 6
	winSize   = 1 << winBits         // seconds per window
	queueRing = 1 << 17              // seconds: 36 hours
	windows   = queueRing >> winBits // window ring slots
)

func newEndQueue() *endQueue {
	return &endQueue{coarse: make([][]endEntry, windows), full: make([]uint64, windows/64), sorted: -1}
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

// warm reads the line that pushing a run that ends at end would write,
// and returns what it read. A push writes a whole line (an entry) that
// has long left the cache; Replay warms a pass's starts all at once, so
// that their misses overlap instead of stalling one push after another.
func (q *endQueue) warm(end time.Duration) uint64 {
	b := max(bucketOf(end), q.cur)
	w, cw := b>>winBits, q.cur>>winBits
	var s []endEntry
	switch {
	case w == cw:
		s = q.fine[b&(winSize-1)]
	case w < cw+windows:
		s = q.coarse[w%windows]
	default:
		return 0
	}
	if n := len(s); n < cap(s) {
		return uint64(s[:n+1][n].id)
	}
	return 0
}

// entryOf is r's run as the end queue holds it.
func entryOf(r *running, keep bool) endEntry {
	e := endEntry{end: r.end, id: r.id, gen: r.gen, start: r.start, submit: r.arr.Submit,
		milli: r.arr.Milli, cls: r.cls, site: int16(r.site), timeout: r.timeout, requeue: r.requeue}
	if keep {
		e.r = r
	}
	return e
}

func entryCmp(x, y endEntry) int {
	if endLess(&x, &y) {
		return -1
	}
	if endLess(&y, &x) {
		return 1
	}
	return 0
}

func (q *endQueue) insert(e endEntry) {
	b := max(bucketOf(e.end), q.cur)
	w, cw := b>>winBits, q.cur>>winBits
	switch {
	case w == cw:
		q.insertFine(b, e)
	case w < cw+windows:
		i := w % windows
		if cap(q.coarse[i]) == 0 && len(q.spare) > 0 {
			n := len(q.spare) - 1
			q.coarse[i], q.spare[n] = q.spare[n], nil
			q.spare = q.spare[:n]
		}
		q.coarse[i] = append(q.coarse[i], e)
		q.full[i/64] |= 1 << (i % 64)
	default:
		q.far.pushEntry(e)
	}
}

// insertFine puts e in the bucket of second b, in the current window.
func (q *endQueue) insertFine(b int64, e endEntry) {
	i := b & (winSize - 1)
	s := q.fine[i]
	if b == q.sorted {
		h := q.fineHead[i]
		at, _ := slices.BinarySearchFunc(s[h:], e, entryCmp)
		s = slices.Insert(s, h+at, e)
	} else {
		s = append(s, e)
	}
	q.fine[i] = s
	q.fineFull |= 1 << i
}

// first returns the first live entry's bucket (second), sorting it if
// needed; ok is false when the queue is empty.
func (q *endQueue) first() (b int64, ok bool) {
	for {
		off := q.cur & (winSize - 1)
		if m := q.fineFull >> off; m != 0 {
			b = q.cur + int64(bits.TrailingZeros64(m))
			i := b & (winSize - 1)
			h := q.fineHead[i]
			s := q.fine[i]
			if q.sorted != b {
				slices.SortFunc(s[h:], func(x, y endEntry) int {
					if endLess(&x, &y) {
						return -1
					}
					return 1
				})
				q.sorted = b
			}
			// Drop stale entries at the front.
			if q.stale > 0 {
				for h < len(s) && s[h].r != nil && s[h].gen != s[h].r.gen {
					s[h] = endEntry{}
					h++
					q.stale--
				}
				q.fineHead[i] = h
			}
			if h == len(s) {
				q.clearFine(i)
				continue
			}
			return b, true
		}
		// The window is done: move to the next one with runs.
		cw := q.cur >> winBits
		w, found := q.nextWindow(cw + 1)
		if !found {
			if len(q.far.es) == 0 {
				return 0, false
			}
			w = bucketOf(q.far.es[0].end) >> winBits
		}
		q.enter(w)
	}
}

// nextWindow finds the first window at or after w (and before the ring's
// end) whose coarse bucket holds runs.
func (q *endQueue) nextWindow(w int64) (int64, bool) {
	end := (q.cur >> winBits) + windows
	for w < end {
		i := w % windows
		m := q.full[i/64] >> (i % 64)
		if m != 0 {
			if x := w + int64(bits.TrailingZeros64(m)); x < end {
				return x, true
			}
			return 0, false
		}
		w += 64 - i%64
	}
	return 0, false
}

// enter makes w (later than the current window, whose buckets are
// empty) the current window: its runs go to the seconds' buckets, and
// far ends that the ring now covers come in.
func (q *endQueue) enter(w int64) {
	q.cur = max(q.cur, w<<winBits)
	q.sorted = -1
	i := w % windows
	if q.full[i/64]&(1<<(i%64)) != 0 {
		s := q.coarse[i]
		for k := range s {
			q.insertFine(max(bucketOf(s[k].end), q.cur), s[k])
		}
		// The array goes to the next window that fills: the windows
		// ahead hold about as many runs as the ones that pass, so the
		// arrays in use stay about as many as the windows with runs.
		clear(s)
		q.coarse[i] = nil
		if cap(s) > 0 && len(q.spare) < 64 {
			q.spare = append(q.spare, s[:0])
		}
		q.full[i/64] &^= 1 << (i % 64)
	}
	for len(q.far.es) > 0 && bucketOf(q.far.es[0].end)>>winBits < w+windows {
		e := q.far.es[0]
		q.far.popEntry()
		q.insert(e)
	}
}

func (q *endQueue) clearFine(i int64) {
	s := q.fine[i]
	clear(s)
	if cap(s) > 4096 {
		s = nil
	}
	q.fine[i] = s[:0]
	q.fineHead[i] = 0
	q.fineFull &^= 1 << i
}

// peek returns the first run's entry without taking it out; the entry is
// valid until the queue next changes.
func (q *endQueue) peek() (*endEntry, bool) {
	b, ok := q.first()
	if !ok {
		return nil, false
	}
	i := b & (winSize - 1)
	return &q.fine[i][q.fineHead[i]], true
}

// pop takes out the first run; the queue must not be empty (peek first).
func (q *endQueue) pop() endEntry {
	b, _ := q.first()
	i := b & (winSize - 1)
	s := q.fine[i]
	h := q.fineHead[i]
	r := s[h]
	s[h] = endEntry{}
	if h+1 == len(s) {
		q.clearFine(i)
	} else {
		q.fineHead[i] = h + 1
	}
	q.live--
	q.cur = max(q.cur, b)
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
	add := func(es []endEntry) {
		for k := range es {
			if e := &es[k]; e.r != nil && e.gen == e.r.gen {
				rs = append(rs, e.r)
			}
		}
	}
	for i := range q.fine {
		add(q.fine[i][q.fineHead[i]:])
	}
	for i, s := range q.coarse {
		if q.full[i/64]&(1<<(i%64)) != 0 {
			add(s)
		}
	}
	add(q.far.es)
	return rs
}

// endHeap holds the ends endQueue's ring does not reach yet: a 4-ary
// min-heap by (end, id) of entries that carry their keys, so sifting
// compares without touching the runs. Stale entries (removed runs) are
// left for the queue to drop.
type endHeap struct {
	es []endEntry
}

// endEntry is a queued run: its key (end, id), and what its end needs,
// in 64 bytes: one cache line (TestEndEntryIsOneLine).
type endEntry struct {
	end     time.Duration
	id      core.JobID
	start   time.Duration
	submit  time.Duration
	milli   core.Milli
	cls     *tenantStats // the job's tenant (and through it its class)
	r       *running     // nil unless pushed with keep
	gen     uint32       // r.gen when pushed; stale once r.gen moves on
	site    int16
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
