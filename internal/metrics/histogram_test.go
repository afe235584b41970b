package metrics

import (
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	h := NewHistogram([]float64{0.001, 0.01, 0.1})
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, 50 * time.Millisecond, time.Second} {
		h.Observe(d)
	}
	cum, n, sum := h.Snapshot()
	want := map[float64]uint64{0.001: 2, 0.01: 3, 0.1: 4}
	for b, c := range want {
		if cum[b] != c {
			t.Errorf("le %v: %d, want %d", b, cum[b], c)
		}
	}
	if n != 5 || sum < 1.056 || sum > 1.0566 {
		t.Errorf("count %d sum %v", n, sum)
	}
	var none *Histogram
	none.Observe(time.Second) // a nil histogram counts nothing, and does not panic
}
