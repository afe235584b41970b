package sim

import (
	"math"
	"math/bits"
	"slices"
)

// samples collects a distribution of non-negative durations in seconds
// for its mean and nearest-rank quantiles. Up to exactLimit values are
// kept as they are and the quantiles are exact; beyond that (a month of
// the EU network finishes 30 million jobs) the values move into a
// log-linear histogram whose quantiles are within 0.1% (1/1024) of the
// exact ones, or 1 ms below 2 s, so memory stays bounded. The mean is
// always exact (a running sum). The same inputs in the same order give the
// same figures.
type samples struct {
	xs  []float32
	sum float64
	n   int
	h   *histogram // nil while exact
}

// exactLimit is how many values a samples keeps before it switches to the
// histogram: 1M values, 4 MiB.
const exactLimit = 1 << 20

func (s *samples) add(v float64) {
	s.sum += v
	s.n++
	if s.h != nil {
		s.h.add(v)
		return
	}
	s.xs = append(s.xs, float32(v))
	if len(s.xs) >= exactLimit {
		s.spill()
	}
}

// warm reads the count that add(v) will change, and returns it (see
// stats.warm).
func (s *samples) warm(v float64) uint64 {
	if s.h == nil {
		return 0
	}
	if i := histIndex(v); i < len(s.h.counts) {
		return uint64(s.h.counts[i])
	}
	return 0
}

// spill moves the exact values into the histogram.
func (s *samples) spill() {
	if s.h == nil {
		s.h = &histogram{}
	}
	for _, x := range s.xs {
		s.h.add(float64(x))
	}
	s.xs = nil
}

// merge adds o's values to s (for the network-wide distribution).
func (s *samples) merge(o *samples) {
	s.sum += o.sum
	s.n += o.n
	if o.h != nil || s.h != nil || len(s.xs)+len(o.xs) >= exactLimit {
		s.spill()
		for _, x := range o.xs {
			s.h.add(float64(x))
		}
		if o.h != nil {
			s.h.merge(o.h)
		}
		return
	}
	s.xs = append(s.xs, o.xs...)
}

// dist summarises the values: mean and nearest-rank p50, p90, p99.
func (s *samples) dist() Dist {
	if s.n == 0 {
		return Dist{}
	}
	d := Dist{Mean: round6(s.sum / float64(s.n))}
	if s.h == nil {
		slices.Sort(s.xs)
		q := func(p float64) float64 { return float64(s.xs[int(math.Ceil(p*float64(len(s.xs))))-1]) }
		d.P50, d.P90, d.P99 = round6(q(0.5)), round6(q(0.9)), round6(q(0.99))
		return d
	}
	d.P50, d.P90, d.P99 = round6(s.h.quantile(0.5)), round6(s.h.quantile(0.9)), round6(s.h.quantile(0.99))
	return d
}

// histogram counts values in milliseconds: exactly below 2,048 ms, then in
// 1,024 buckets per power of two (HDR-histogram style), so a bucket is at
// most 1/1024 of its values wide.
//
// Counts are 32-bit, which halves the table that every end adds to at a
// random place (its JCT's bucket); a bucket that wraps carries into over.
type histogram struct {
	counts []uint32
	over   map[int]uint64 // carries: over[i] * 2^32 more values in bucket i
	total  uint64
}

// count is bucket i's number of values.
func (h *histogram) count(i int) uint64 {
	c := uint64(h.counts[i])
	if h.over != nil {
		c += h.over[i] << 32
	}
	return c
}

// addN adds n values to bucket i, which must exist.
func (h *histogram) addN(i int, n uint64) {
	c := uint64(h.counts[i]) + n
	h.counts[i] = uint32(c)
	if c >= 1<<32 {
		if h.over == nil {
			h.over = map[int]uint64{}
		}
		h.over[i] += c >> 32
	}
}

const histSub = 10 // log2 of the buckets per power of two

func histIndex(v float64) int {
	if !(v > 0) { // negative, zero, NaN
		return 0
	}
	u := uint64(math.Min(v*1000, 1<<62))
	if u < 2<<histSub {
		return int(u)
	}
	o := bits.Len64(u) - histSub - 1 // >= 1
	return (2 << histSub) + (o-1)<<histSub + int(u>>o) - 1<<histSub
}

// histLow is the smallest value, in seconds, that falls in bucket i.
func histLow(i int) float64 {
	if i < 2<<histSub {
		return float64(i) / 1000
	}
	r := i - 2<<histSub
	o := r>>histSub + 1
	sub := r&(1<<histSub-1) + 1<<histSub
	return float64(uint64(sub)<<o) / 1000
}

func (h *histogram) add(v float64) {
	i := histIndex(v)
	if i >= len(h.counts) {
		h.counts = slices.Grow(h.counts, i+1-len(h.counts))[:i+1]
	}
	h.counts[i]++
	if h.counts[i] == 0 {
		h.addN(i, 1<<32) // wrapped: carry
	}
	h.total++
}

func (h *histogram) merge(o *histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = slices.Grow(h.counts, len(o.counts)-len(h.counts))[:len(o.counts)]
	}
	for i := range o.counts {
		h.addN(i, o.count(i))
	}
	h.total += o.total
}

// quantile is the nearest-rank p-quantile: the low edge of the bucket
// that holds the value of rank ceil(p*n).
func (h *histogram) quantile(p float64) float64 {
	rank := uint64(math.Ceil(p * float64(h.total)))
	var cum uint64
	for i := range h.counts {
		c := h.count(i)
		cum += c
		if cum >= rank && c > 0 {
			return histLow(i)
		}
	}
	return 0
}
