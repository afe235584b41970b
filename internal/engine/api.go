// Package engine is Gigafactory's deterministic scheduling state machine.
//
// The engine owns the picture of every site's capacity and of every pending
// and active job. Its inputs are events (Apply) and the current time (Step);
// its outputs are intents the shell carries out (start this job there,
// preempt that one) and the time it next wants to be woken. It does no I/O,
// starts no goroutines and never reads the wall clock, so the live daemon and
// the digital twin drive exactly the same code.
package engine

import (
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Event is an input to the engine. Concrete types: Submitted, Started,
// Ended, Cancelled, SiteChanged.
//
// Submitted, Started and Ended may also be passed by pointer: a shell that
// applies millions of them (the digital twin) reuses one of each instead
// of boxing a copy (a Submitted carries a whole core.Job) per event.
type Event interface{ isEvent() }

// Submitted adds a pending job (also used at restart to reload pending jobs).
type Submitted struct{ Job core.Job }

// Started tells the engine a job holds Alloc since At (used at restart to
// reload running jobs, and to confirm a Start intent).
type Started struct {
	ID    core.JobID
	Alloc core.Allocation
	At    time.Time
}

// Ended releases a job's resources; its usage is charged to fair share.
type Ended struct {
	ID    core.JobID
	State core.State
	At    time.Time
	// Requeue puts the job back to pending (preemption, lost run).
	Requeue bool
}

// Cancelled removes a pending job, or releases an active one.
type Cancelled struct {
	ID core.JobID
	At time.Time
}

// SiteChanged sets a site's lifecycle state (active, draining, down).
type SiteChanged struct {
	Site  string
	State string
}

func (Submitted) isEvent()   {}
func (Started) isEvent()     {}
func (Ended) isEvent()       {}
func (Cancelled) isEvent()   {}
func (SiteChanged) isEvent() {}

// Intent is an output of Step for the shell to carry out.
// Concrete types: Start, Preempt.
type Intent interface{ isIntent() }

// Start asks the shell to launch a job on Alloc. The engine already counts
// the resources as held; if the launch fails the shell applies Ended.
type Start struct {
	ID    core.JobID
	Alloc core.Allocation
}

// Preempt asks the shell to stop a running job: signal it, wait Grace, stop
// it, then apply Ended{Requeue: true}.
type Preempt struct {
	ID     core.JobID
	Grace  time.Duration
	Signal string
	For    core.JobID // the job that needs the room
}

func (Start) isIntent()   {}
func (Preempt) isIntent() {}

// Status is why a pending job waits and when it is expected to start.
// "Cannot place now" is a Status, never an error.
type Status struct {
	ID             core.JobID `json:"id"`
	State          core.State `json:"state"`
	Reason         string     `json:"reason,omitempty"`
	Reasons        []string   `json:"reasons,omitempty"`
	EstimatedStart *time.Time `json:"estimated_start,omitempty"`
	Priority       float64    `json:"priority"`
}

// Reservation creates or replaces an advance reservation: Accelerators
// (whole nodes) of one pool set aside for [Start, End) for the listed
// projects or jobs, for moonshot runs. From the moment it is applied the
// engine drains the chosen nodes: other jobs may use them only if their
// walltime ends before Start. Blocks pins the reservation to those
// blocks of the pool (indices, as in node names' blocks of NodesPerBlock).
type Reservation struct {
	Name         string
	Site         string // empty = any site
	Pool         string // empty = any pool of Model at Site
	Model        string
	Accelerators int
	Blocks       []int
	Start, End   time.Time
	Projects     []string
	Jobs         []core.JobID
	// Named: only jobs that name it (core.JobSpec.Reservation) run in it,
	// as with Slurm's --reservation; otherwise every job of Projects and
	// Jobs may. A job naming a reservation the engine knows waits for its
	// window (reason "Reservation: ...") and runs nowhere else.
	Named bool
}

// ReservationDeleted removes an advance reservation; its nodes return to
// ordinary use.
type ReservationDeleted struct{ Name string }

func (Reservation) isEvent()        {}
func (ReservationDeleted) isEvent() {}
