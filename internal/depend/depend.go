// Package depend decides when a job's sbatch --dependency holds, and when it
// never can. It is pure: the states of the jobs it names come in through a
// lookup, time comes in as a value, and it keeps nothing between calls.
//
// The meaning follows sbatch(1): after (the jobs have started, plus an
// optional delay), afterany (ended, however), afterok (ended with exit 0),
// afternotok (ended otherwise), singleton (no earlier job of the same name
// and user is unfinished). Conditions joined by "," must all hold; joined
// by "?", one suffices. A job id that names a whole array stands for all
// its tasks.
package depend

import (
	"fmt"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Outcome is where a dependency stands.
type Outcome int

// Outcomes.
const (
	Waiting   Outcome = iota // may still hold later
	Satisfied                // holds: the job may run
	Never                    // can no longer hold (DependencyNeverSatisfied)
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Satisfied:
		return "satisfied"
	case Never:
		return "never"
	}
	return "waiting"
}

// Ref is what the evaluator needs to know of one job a dependency names.
type Ref struct {
	State     core.State
	StartTime *time.Time
}

// Lookup returns the jobs that id ("1234", or "1234_7" for one array
// task) names: one job, all the tasks of an array, or none when it does not
// exist.
type Lookup func(id string) []Ref

// Singleton reports whether an earlier job of the same name and user is
// still unfinished.
type Singleton func() bool

// Result is an evaluation: the outcome, why (for the job's reason), and,
// when waiting on time alone (after+minutes), when to look again.
type Result struct {
	Outcome Outcome
	Why     string
	WakeAt  time.Time
}

// Evaluate decides dep at now.
func Evaluate(dep *core.Dependency, now time.Time, look Lookup, singleton Singleton) Result {
	if dep == nil || len(dep.Conditions) == 0 {
		return Result{Outcome: Satisfied}
	}
	var results []Result
	for _, c := range dep.Conditions {
		results = append(results, condition(c, now, look, singleton))
	}
	return combine(results, dep.Any)
}

// combine joins condition results: all must hold (any=false) or one
// suffices (any=true).
func combine(rs []Result, any bool) Result {
	var wake time.Time
	var waitWhy, neverWhy string
	waiting, never := 0, 0
	for _, r := range rs {
		switch r.Outcome {
		case Satisfied:
			if any {
				return r
			}
		case Never:
			never++
			if neverWhy == "" {
				neverWhy = r.Why
			}
			if !any {
				return r
			}
		case Waiting:
			waiting++
			if waitWhy == "" {
				waitWhy = r.Why
			}
			if !r.WakeAt.IsZero() && (wake.IsZero() || r.WakeAt.Before(wake)) {
				wake = r.WakeAt
			}
		}
	}
	switch {
	case waiting > 0:
		return Result{Outcome: Waiting, Why: waitWhy, WakeAt: wake}
	case never > 0:
		return Result{Outcome: Never, Why: neverWhy}
	}
	return Result{Outcome: Satisfied}
}

func condition(c core.DependencyCondition, now time.Time, look Lookup, singleton Singleton) Result {
	if c.Type == core.DependSingleton {
		if singleton != nil && singleton() {
			return Result{Outcome: Waiting, Why: "singleton: an earlier job of the same name is unfinished"}
		}
		return Result{Outcome: Satisfied}
	}
	var rs []Result
	for _, dj := range c.Jobs {
		rs = append(rs, jobCondition(c.Type, dj, now, look(dj.ID)))
	}
	return combine(rs, false)
}

// jobCondition decides one condition on one named job (all its tasks when
// it is an array).
func jobCondition(typ string, dj core.DependencyJob, now time.Time, refs []Ref) Result {
	name := typ + ":" + dj.ID
	if len(refs) == 0 {
		return Result{Outcome: Never, Why: fmt.Sprintf("%s: job %s does not exist", name, dj.ID)}
	}
	switch typ {
	case core.DependAfter:
		var latest time.Time
		for _, r := range refs {
			switch {
			case r.StartTime != nil:
				if r.StartTime.After(latest) {
					latest = *r.StartTime
				}
			case r.State.Terminal():
				// ended without starting (cancelled while pending): Slurm
				// counts the condition as met.
			default:
				return Result{Outcome: Waiting, Why: name + ": not started"}
			}
		}
		if at := latest.Add(time.Duration(dj.Minutes) * time.Minute); dj.Minutes > 0 && now.Before(at) {
			return Result{Outcome: Waiting, Why: fmt.Sprintf("%s: %d minutes after its start", name, dj.Minutes), WakeAt: at}
		}
		return Result{Outcome: Satisfied}
	case core.DependAfterAny, core.DependAfterOK, core.DependAfterNotOK:
		ended, ok := 0, 0
		for _, r := range refs {
			if r.State.Terminal() {
				ended++
				if r.State == core.StateCompleted {
					ok++
				}
			}
		}
		failed := ended - ok
		switch typ {
		case core.DependAfterAny:
			if ended == len(refs) {
				return Result{Outcome: Satisfied}
			}
		case core.DependAfterOK:
			if failed > 0 {
				return Result{Outcome: Never, Why: name + ": it did not complete successfully"}
			}
			if ok == len(refs) {
				return Result{Outcome: Satisfied}
			}
		case core.DependAfterNotOK:
			if ended == len(refs) {
				if failed > 0 {
					return Result{Outcome: Satisfied}
				}
				return Result{Outcome: Never, Why: name + ": it completed successfully"}
			}
		}
		return Result{Outcome: Waiting, Why: name + ": not ended"}
	}
	return Result{Outcome: Never, Why: fmt.Sprintf("unknown dependency type %q", typ)}
}

// Names returns the job ids dep names (for indexing dependents), each once.
func Names(dep *core.Dependency) []string {
	if dep == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range dep.Conditions {
		for _, j := range c.Jobs {
			if !seen[j.ID] {
				seen[j.ID] = true
				out = append(out, j.ID)
			}
		}
	}
	return out
}

// HasSingleton reports whether dep has a singleton condition.
func HasSingleton(dep *core.Dependency) bool {
	if dep == nil {
		return false
	}
	for _, c := range dep.Conditions {
		if c.Type == core.DependSingleton {
			return true
		}
	}
	return false
}
