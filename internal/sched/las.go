package sched

import (
	"strconv"
	"time"
)

// LASConfig is Tiresias's two-dimensional least-attained-service order
// (Gu et al., NSDI'19) with discretised queues: a job's attained service
// is the accelerator-seconds it has run (accelerators × time, summed over
// its runs, kept when it is preempted and requeued), which needs no
// knowledge of how long a job will run. Jobs are put in queues by it:
// queue 0 below Thresholds[0], queue i below Thresholds[i], the last queue
// beyond; a lower queue runs first. Inside a queue the other factors
// order (fair share, age: first come, first served among equals).
type LASConfig struct {
	// Thresholds are the queues' upper bounds in accelerator-seconds,
	// ascending. Empty = one queue (attained service orders nothing).
	Thresholds []float64 `json:"thresholds,omitempty"`
	// StarvationFactor is Tiresias's starvation guard: a job that has run
	// before and has waited, since it was last queued, more than this many
	// times its run time so far is promoted to queue 0. 0 = off.
	StarvationFactor float64 `json:"starvation_factor,omitempty"`
	// StarvationCap promotes any job that has waited this long since it
	// was last queued, whatever it has run. 0 = no cap.
	StarvationCap time.Duration `json:"starvation_cap,omitempty"`
}

// DefaultLAS is the default policy's queues: below one accelerator-hour,
// below ten, beyond; a preempted job that waits twice as long as it has
// run, or six hours, goes back to the first queue.
func DefaultLAS() LASConfig {
	return LASConfig{Thresholds: []float64{3600, 36000}, StarvationFactor: 2, StarvationCap: 6 * time.Hour}
}

// Queues is how many queues c has.
func (c *LASConfig) Queues() int { return len(c.Thresholds) + 1 }

// Queue returns the queue of a job with attained accelerator-seconds of
// service, run for ran in all and waiting since queued (zero: not
// waiting), at now; promoted says the starvation guard moved it to 0.
func (c *LASConfig) Queue(attained float64, ran time.Duration, queued, now time.Time) (q int, promoted bool) {
	for q < len(c.Thresholds) && attained >= c.Thresholds[q] {
		q++
	}
	if q == 0 || queued.IsZero() {
		return q, false
	}
	waited := now.Sub(queued)
	if c.StarvationFactor > 0 && ran > 0 && waited.Seconds() > c.StarvationFactor*ran.Seconds() ||
		c.StarvationCap > 0 && waited > c.StarvationCap {
		return 0, true
	}
	return q, false
}

// QueueFactor maps queue q of n to a factor in [0,1]: 1 for queue 0, 0
// for the last (1 when there is one queue).
func QueueFactor(q, n int) float64 {
	if n <= 1 {
		return 1
	}
	return float64(n-1-q) / float64(n-1)
}

// attainedFactor is in's attained-service factor at now and the queue.
func (c *PriorityConfig) attainedFactor(in *PriorityInput, now time.Time) (f float64, q int, promoted bool) {
	q, promoted = c.LAS.Queue(in.Attained, in.Ran, in.Queued, now)
	return QueueFactor(q, c.LAS.Queues()), q, promoted
}

// attainedNote is the attained factor's note in a breakdown.
func (c *PriorityConfig) attainedNote(in *PriorityInput, q int, promoted bool, now time.Time) string {
	s := strconv.FormatFloat(in.Attained/3600, 'f', 1, 64) + " accelerator-hours attained: queue " +
		strconv.Itoa(q+1) + " of " + strconv.Itoa(c.LAS.Queues())
	if promoted {
		s += " (promoted by the starvation guard: waited " + strconv.FormatFloat(now.Sub(in.Queued).Seconds(), 'f', 0, 64) +
			" s after running " + strconv.FormatFloat(in.Ran.Seconds(), 'f', 0, 64) + " s)"
	}
	return s
}
