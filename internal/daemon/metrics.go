package daemon

import (
	"context"
	"sync"
	"sync/atomic"
)

// StepBuckets are the upper bounds, in seconds, of the scheduling pass
// histogram: a pass over a small site takes microseconds, over the EU
// network with 100,000 jobs hundreds of milliseconds.
var StepBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// driverErrors counts a site's driver errors by operation (start, poll).
type driverErrors struct {
	m sync.Map // [2]string{site, op} → *atomic.Int64
}

func (e *driverErrors) add(site, op string) {
	v, _ := e.m.LoadOrStore([2]string{site, op}, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// DriverErrors returns the driver errors counted so far by site and
// operation.
func (m *Metrics) DriverErrors() map[[2]string]int64 {
	out := map[[2]string]int64{}
	m.driverErrs.m.Range(func(k, v any) bool {
		out[k.([2]string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// PendingReasons counts the pending jobs by the reason they give (the
// engine's for jobs it holds, the gate's for jobs held before it).
func (d *Daemon) PendingReasons(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		for _, st := range d.eng.Pending() {
			r := st.Reason
			if r == "" {
				r = "None"
			}
			out[r]++
		}
		for _, h := range d.gate.held {
			out[h.reason]++
		}
	})
	return out, err
}
