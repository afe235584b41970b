// Package metrics holds the lock-free histogram that the daemon (scheduling
// passes) and the store (write transactions) fill and the API exports to
// Prometheus. It imports only the standard library, so the packages that
// measure need not depend on the Prometheus client; internal/api turns a
// Snapshot into a Prometheus histogram.
package metrics

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations into fixed buckets, without locks.
type Histogram struct {
	bounds []float64
	counts []atomic.Int64 // per bucket, not cumulative
	sumNs  atomic.Int64
	n      atomic.Int64
}

// NewHistogram returns a histogram with the given upper bounds, in
// seconds, ascending.
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds))}
}

// Observe counts d. A nil histogram counts nothing.
func (h *Histogram) Observe(d time.Duration) {
	if h == nil {
		return
	}
	s := d.Seconds()
	for i, b := range h.bounds {
		if s <= b {
			h.counts[i].Add(1)
			break
		}
	}
	h.sumNs.Add(int64(d))
	h.n.Add(1)
}

// Snapshot returns the cumulative count at each bound, the total count and
// the sum in seconds, as Prometheus writes a histogram.
func (h *Histogram) Snapshot() (cumulative map[float64]uint64, count uint64, sum float64) {
	cumulative = make(map[float64]uint64, len(h.bounds))
	var c uint64
	for i, b := range h.bounds {
		c += uint64(h.counts[i].Load())
		cumulative[b] = c
	}
	return cumulative, uint64(h.n.Load()), float64(h.sumNs.Load()) / 1e9
}
