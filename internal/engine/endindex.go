package engine

import (
	"github.com/gigafactory/gigafactory/internal/core"
)

// endIndex keeps, per pool, how many accelerators the placed jobs free
// and when (their start plus walltime), by the minute, so that the
// broker's capacity picture can ask "when will this pool have N
// accelerators free" without walking every running job on each routing
// pass (160,000 of them on the EU network). It is kept up to date as jobs
// are placed and released; time moves it forward lazily.
//
// Per pool, a ring of endRing one-minute buckets covers [cur, cur+ring):
// ends further out count in the last bucket (an estimate that a pool frees
// capacity within 11 days rather than later), ends whose minute has passed
// (jobs running over their walltime) leave the index: when they end is
// unknown (see when). A Fenwick tree over the ring answers the cumulative
// queries in O(log ring).
type endIndex struct {
	pools []poolEnds
}

const (
	endRes  = 60      // seconds per bucket
	endRing = 1 << 14 // buckets: 11.4 days
)

type poolEnds struct {
	cur   int64 // absolute bucket (unix seconds / endRes) of now
	total int64 // milli in the ring
	fen   []int64
	val   []int64
}

func newEndIndex(pools int) *endIndex { return &endIndex{pools: make([]poolEnds, pools)} }

// add counts m milli freed at unix time at in pool pi and returns the
// bucket it was counted in, for remove (an end already past is not
// counted).
func (x *endIndex) add(pi int, at int64, m core.Milli, now int64) int64 {
	p := &x.pools[pi]
	p.advance(now / endRes)
	b := at / endRes
	if b < p.cur {
		return b
	}
	b = min(b, p.cur+endRing-1)
	p.bump(b, int64(m))
	return b
}

// remove takes back what add counted in bucket b.
func (x *endIndex) remove(pi int, b int64, m core.Milli) {
	p := &x.pools[pi]
	if b < p.cur {
		return // passed out of the ring already
	}
	p.bump(b, -int64(m))
}

func (p *poolEnds) bump(b, d int64) {
	if p.fen == nil {
		p.fen, p.val = make([]int64, endRing), make([]int64, endRing)
	}
	i := int(b % endRing)
	p.val[i] += d
	p.total += d
	for k := i + 1; k <= endRing; k += k & -k {
		p.fen[k-1] += d
	}
}

// advance moves now to bucket now: buckets that passed are emptied.
func (p *poolEnds) advance(now int64) {
	if now <= p.cur {
		return
	}
	if p.fen == nil || p.total == 0 || now-p.cur >= endRing {
		if p.fen != nil && p.total != 0 {
			p.total = 0
			clear(p.fen)
			clear(p.val)
		}
		p.cur = now
		return
	}
	for ; p.cur < now; p.cur++ {
		if v := p.val[p.cur%endRing]; v != 0 {
			p.bump(p.cur, -v)
		}
	}
}

// prefix is the sum of ring positions [0, i].
func (p *poolEnds) prefix(i int) int64 {
	var s int64
	for k := i + 1; k > 0; k -= k & -k {
		s += p.fen[k-1]
	}
	return s
}

// lowerBound is the first ring position whose prefix reaches v (v > 0,
// v <= the sum of all positions).
func (p *poolEnds) lowerBound(v int64) int {
	pos := 0
	for step := endRing; step > 0; step >>= 1 {
		if next := pos + step; next <= endRing && p.fen[next-1] < v {
			pos = next
			v -= p.fen[next-1]
		}
	}
	return pos // 0-based position
}

// when returns the unix time by which pool pi will have freed need milli
// through the walltime ends still ahead, and ok = false when those free
// less than need in all; then freed is what they free and last when the
// last of them ends. Jobs already past their walltime are not counted:
// when they end is unknown (a site that enforces walltimes ends them
// soon, one that does not, as the twin's Philly jobs show, may run them
// for days), and counting them as freeing now sent a broker's every job
// to the sites full of them.
func (x *endIndex) when(pi int, need core.Milli, now int64) (at int64, ok bool, freed core.Milli, last int64) {
	p := &x.pools[pi]
	p.advance(now / endRes)
	v := int64(need)
	c := int(p.cur % endRing)
	var before int64 // ring positions [0, c): the later part of the window
	if c > 0 && p.total > 0 {
		before = p.prefix(c - 1)
	}
	if p.total < v {
		last = now
		switch {
		case before > 0: // the last end wraps around the ring
			last = x.bucketTime(p, p.lowerBound(before), now)
		case p.total > 0:
			last = x.bucketTime(p, p.lowerBound(p.total), now)
		}
		return 0, false, core.Milli(p.total), last
	}
	var i int
	if tail := p.total - before; tail >= v {
		i = p.lowerBound(v + before)
	} else {
		i = p.lowerBound(v - tail)
	}
	return x.bucketTime(p, i, now), true, 0, 0
}

// bucketTime is the end of ring position i's minute, in unix seconds (not
// before now).
func (x *endIndex) bucketTime(p *poolEnds, i int, now int64) int64 {
	c := int(p.cur % endRing)
	off := i - c
	if off < 0 {
		off += endRing
	}
	return max((p.cur+int64(off)+1)*endRes, now)
}
