package access

import (
	"fmt"
	"slices"

	"github.com/gigafactory/gigafactory/internal/core"
)

// transitions are the proposal state machine's edges:
//
//	draft ──submit──▶ submitted ──assign──▶ under-review ──▶ awarded | rejected
//	  │                   │ (playground: awarded | rejected, no review)
//	  └──────────────┴──────────────┴──▶ withdrawn (the PI, before a decision)
var transitions = map[string][]string{
	core.ProposalDraft:       {core.ProposalSubmitted, core.ProposalWithdrawn},
	core.ProposalSubmitted:   {core.ProposalUnderReview, core.ProposalAwarded, core.ProposalRejected, core.ProposalWithdrawn},
	core.ProposalUnderReview: {core.ProposalAwarded, core.ProposalRejected, core.ProposalWithdrawn},
}

// ProposalStates lists the proposal states in the order they are reached.
var ProposalStates = []string{core.ProposalDraft, core.ProposalSubmitted, core.ProposalUnderReview, core.ProposalAwarded, core.ProposalRejected, core.ProposalWithdrawn}

// Transition says whether a proposal may go from one state to another.
// Awarded, rejected and withdrawn are final.
func Transition(from, to string) error {
	if !slices.Contains(ProposalStates, to) {
		return fieldErr("state", "want one of %v, got %q", ProposalStates, to)
	}
	if !slices.Contains(transitions[from], to) {
		return fmt.Errorf("a %s proposal cannot become %s: %w", from, to, ErrState)
	}
	return nil
}

// Final reports whether a proposal in state s is decided or withdrawn.
func Final(s string) bool { return len(transitions[s]) == 0 }

// CheckDecision says whether a proposal of call c with reviews may be
// decided (awarded or rejected) now: it must be submitted or under
// review; in a reviewed mode, the call must be closed (large scale and
// moonshot decide after the cut-off; fast lane and playground are
// continuous) and at least one review that counts must be complete.
func CheckDecision(c core.Call, p core.Proposal, reviews []core.Review) error {
	if p.State != core.ProposalSubmitted && p.State != core.ProposalUnderReview {
		return fmt.Errorf("proposal %s is %s: %w", p.ID, p.State, ErrState)
	}
	m := Modes[c.Mode]
	if !m.Reviewed() {
		return nil
	}
	if m.Scientific && !c.Closes.IsZero() && c.State != core.CallClosed {
		return fmt.Errorf("call %s is decided after its cut-off: close it first: %w", c.ID, ErrState)
	}
	for _, r := range reviews {
		if Complete(m, r) {
			return nil
		}
	}
	return fmt.Errorf("proposal %s has no complete review yet (%s needs %s): %w", p.ID, c.Mode, needs(m), ErrState)
}

func needs(m Mode) string {
	if m.Scientific {
		return "technical and scientific scores"
	}
	return "a technical score"
}
