package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank p-quantile of xs (sorted here).
func exactQuantile(xs []float64, p float64) float64 {
	slices.Sort(xs)
	return xs[int(math.Ceil(p*float64(len(xs))))-1]
}

func TestHistogramBucketsCoverValuesInOrder(t *testing.T) {
	prev := -1
	for _, v := range []float64{0, 0.0004, 0.001, 0.5, 1, 2.047, 2.048, 2.049, 3, 100, 189, 3761, 86400, 1e7, 1e12} {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("histIndex(%v) = %d, below the previous value's %d", v, i, prev)
		}
		prev = i
		lo := histLow(i)
		if lo > v+1e-9 {
			t.Errorf("histLow(histIndex(%v)) = %v, above the value", v, lo)
		}
		if v >= 2.048 && (v-lo)/v > 1.0/1024 {
			t.Errorf("value %v lands in a bucket starting at %v: %.5f%% wide, more than 1/1024", v, lo, 100*(v-lo)/v)
		}
		if v < 2.048 && v-lo >= 0.001 {
			t.Errorf("value %v lands in a bucket starting at %v, more than 1 ms below", v, lo)
		}
	}
}

func TestSamplesQuantiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		gen   func(r *rand.Rand) float64
		exact bool
	}{
		{"few exact", 1000, func(r *rand.Rand) float64 { return math.Floor(r.ExpFloat64() * 300) }, true},
		{"at the limit exact", exactLimit - 1, func(r *rand.Rand) float64 { return r.ExpFloat64() * 3761 }, true},
		{"past the limit, heavy tail", exactLimit + 50000, func(r *rand.Rand) float64 { return math.Exp(r.NormFloat64()*3 + 5) }, false},
		{"past the limit, mostly zero", 3 * exactLimit / 2, func(r *rand.Rand) float64 {
			if r.IntN(10) < 8 {
				return 0
			}
			return r.Float64() * 1e5
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var s samples
			xs := make([]float64, tc.n)
			var sum float64
			for i := range xs {
				v := float64(float32(tc.gen(r)))
				xs[i] = v
				sum += v
				s.add(v)
			}
			if (s.h == nil) != tc.exact {
				t.Fatalf("histogram in use = %v after %d values, want %v", s.h != nil, tc.n, !tc.exact)
			}
			d := s.dist()
			if want := round6(sum / float64(tc.n)); math.Abs(d.Mean-want) > 1e-6*math.Abs(want) {
				t.Errorf("mean %v, want %v", d.Mean, want)
			}
			for _, q := range []struct {
				p   float64
				got float64
			}{{0.5, d.P50}, {0.9, d.P90}, {0.99, d.P99}} {
				want := exactQuantile(xs, q.p)
				tol := 1e-5 * want // round6 keeps six significant digits
				if !tc.exact {
					tol = max(want/1024, 0.001)
				}
				if math.Abs(q.got-want) > tol {
					t.Errorf("p%v = %v, exact %v (tolerance %v)", q.p*100, q.got, want, tol)
				}
			}
		})
	}
}

func TestSamplesMergeEqualsOneStream(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, all samples
	for i := 0; i < exactLimit; i++ {
		v := r.ExpFloat64() * 1000
		all.add(v)
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	var m samples
	m.merge(&a)
	m.merge(&b)
	if got, want := m.dist(), all.dist(); got.P50 != want.P50 || got.P90 != want.P90 || got.P99 != want.P99 || m.n != all.n {
		t.Fatalf("merged %+v (n %d), one stream %+v (n %d)", got, m.n, want, all.n)
	}
}

// TestHistogramCountsCarry checks that a bucket whose 32-bit count wraps
// keeps its true count, alone and through a merge, and that quantiles
// see it.
func TestHistogramCountsCarry(t *testing.T) {
	var h histogram
	h.add(5) // bucket of 5 s
	h.add(1) // bucket of 1 s
	i := histIndex(1)
	h.counts[i] = 1<<32 - 1 // as if 2^32-1 values of 1 s had been added
	h.total += 1<<32 - 2
	h.add(1) // wraps
	if got, want := h.count(i), uint64(1<<32); got != want {
		t.Fatalf("count after wrap %d, want %d", got, want)
	}
	var m histogram
	m.merge(&h)
	m.merge(&h)
	if got, want := m.count(i), uint64(1<<33); got != want {
		t.Fatalf("merged count %d, want %d", got, want)
	}
	if m.total != 2*h.total || h.total != 1<<32+1 {
		t.Fatalf("totals %d and %d", h.total, m.total)
	}
	// All but two values are 1 s: the median and p99 are 1 s, not 5 s.
	if q := m.quantile(0.99); q != histLow(i) {
		t.Fatalf("p99 %v, want %v", q, histLow(i))
	}
	if q := m.quantile(1); q != histLow(histIndex(5)) {
		t.Fatalf("max %v, want the 5 s bucket %v", q, histLow(histIndex(5)))
	}
}
