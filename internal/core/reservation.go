package core

import "time"

// Reservation is an advance reservation (issue 17), as Slurm's scontrol
// create reservation: Accelerators of one Model at Site set aside for
// [Start, End) for the jobs of Projects that name it (--reservation ID).
// Operators of the site, allocators and global administrators create and
// delete them; the scheduler drains the chosen nodes ahead of Start.
type Reservation struct {
	ID           string    `json:"id"`
	Site         string    `json:"site"`
	Model        string    `json:"model,omitempty"`
	Accelerators int       `json:"accelerators"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Projects     []string  `json:"projects"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by,omitempty"`
	// What the scheduler does with it, filled when read through the API:
	// State (one of the Reservation* constants), the nodes it holds, and
	// Problem, why it holds none.
	State   string   `json:"state,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
	Problem string   `json:"problem,omitempty"`
}

// A reservation's states: planned (no nodes held yet: see Problem),
// draining (nodes held, the window not begun: only jobs that end before
// Start may use them), active (within the window), ended.
const (
	ReservationPlanned  = "planned"
	ReservationDraining = "draining"
	ReservationActive   = "active"
	ReservationEnded    = "ended"
)

// NewReservation is the body that books a reservation (POST
// /api/v1/reservations). Start is RFC 3339 or sbatch --begin's forms (now,
// now+1hour, 2026-12-09T08:00, tomorrow, 16:00), in UTC; Duration sbatch
// --time's (minutes, H:M:S, D-H, D-H:M:S). Name, left out, is made by the
// server from the site and the start ("gf-fr-20261209T0800").
type NewReservation struct {
	Name         string   `json:"name,omitempty"`
	Site         string   `json:"site"`
	Model        string   `json:"model,omitempty"`
	Accelerators int      `json:"accelerators"`
	Start        string   `json:"start"`
	Duration     string   `json:"duration"`
	Projects     []string `json:"projects,omitempty"`
}
