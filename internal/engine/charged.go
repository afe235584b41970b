package engine

import (
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Charged is the use of a run that ended before this engine was made (a
// controller restart): AccelSeconds by the job's account, ended At. It is
// charged to fair share and to the project's budget as if the engine had
// seen the run end, so that a restart forgets no one's usage. Apply them
// in order of At, before the first Step.
type Charged struct {
	Job          core.Job
	AccelSeconds float64
	At           time.Time
}

func (Charged) isEvent() {}

// charged records ev in the fair tree, decayed from ev.At as the tree
// decays every use, and in its project's budget use, which does not
// decay.
func (e *Engine) charged(ev Charged) {
	if ev.AccelSeconds <= 0 || ev.At.IsZero() {
		return
	}
	a := e.account(sched.Account{Org: ev.Job.Org, Project: ev.Job.Project, User: ev.Job.User})
	// And to its project's budget, as ended saw it run: a job held by a
	// spent budget stays held after a restart or failover.
	a.proj.usedSec += ev.AccelSeconds
	if e.rankFair() {
		e.fair.ChargeLeaf(a.leaf, ev.AccelSeconds, ev.At)
	} else {
		e.fair.Accrue(&a.owed, ev.AccelSeconds, ev.At)
	}
}
