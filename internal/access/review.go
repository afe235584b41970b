package access

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Assignment refusals, as Refusal.Code.
const (
	RefuseNotReviewer = "not-a-reviewer"
	RefuseSameOrg     = "same-organisation"
	RefuseConflict    = "declared-conflict"
	RefusePI          = "is-the-pi"
	RefuseNoReview    = "no-review"
)

// Refusal is why a reviewer cannot be assigned to a proposal.
type Refusal struct {
	Code   string
	Detail string
}

func (r *Refusal) Error() string { return r.Detail }

// CheckAssignment says whether reviewer may review proposal p, whose
// project belongs to p.Org: they must hold the reviewer role (admins
// too), not be its PI, not belong to its organisation, and not have
// declared a conflict with its organisation or project (conflicts are
// the reviewer's). A proposal of a mode without review takes no
// reviewers.
func CheckAssignment(c core.Call, p core.Proposal, reviewer core.User, conflicts []core.Conflict) error {
	if !Modes[c.Mode].Reviewed() {
		return &Refusal{RefuseNoReview, fmt.Sprintf("%s proposals are not reviewed", c.Mode)}
	}
	if reviewer.Role != core.RoleReviewer && reviewer.Role != core.RoleAdmin {
		return &Refusal{RefuseNotReviewer, fmt.Sprintf("user %s is not a reviewer (role %s)", reviewer.Name, reviewer.Role)}
	}
	if reviewer.Name == p.PI {
		return &Refusal{RefusePI, fmt.Sprintf("user %s is the proposal's principal investigator", reviewer.Name)}
	}
	if reviewer.Org != "" && reviewer.Org == p.Org {
		return &Refusal{RefuseSameOrg, fmt.Sprintf("reviewer %s belongs to organisation %s, the principal investigator's", reviewer.Name, p.Org)}
	}
	for _, cf := range conflicts {
		if cf.Reviewer != reviewer.Name {
			continue
		}
		if cf.Org != "" && cf.Org == p.Org || cf.Project != "" && cf.Project == p.Project {
			what := "organisation " + cf.Org
			if cf.Project != "" {
				what = "project " + cf.Project
			}
			return &Refusal{RefuseConflict, fmt.Sprintf("reviewer %s declared a conflict with %s: %s", reviewer.Name, what, cf.Reason)}
		}
	}
	return nil
}

// CheckScores validates a review's scores for a call of mode: each in
// MinScore..MaxScore, the technical one always, the scientific one when
// the mode is peer-reviewed (and not otherwise).
func CheckScores(m Mode, r core.Review) error {
	if r.Technical < core.MinScore || r.Technical > core.MaxScore {
		return fieldErr("technical", "want a score from %d to %d, got %d", core.MinScore, core.MaxScore, r.Technical)
	}
	switch {
	case m.Scientific && (r.Scientific < core.MinScore || r.Scientific > core.MaxScore):
		return fieldErr("scientific", "want a score from %d to %d, got %d", core.MinScore, core.MaxScore, r.Scientific)
	case !m.Scientific && r.Scientific != 0:
		return fieldErr("scientific", "%s proposals get a technical check only", m.Name)
	}
	return nil
}

// Complete reports whether review r counts towards a decision in mode m:
// not conflicted, and scored as the mode asks.
func Complete(m Mode, r core.Review) bool {
	return !r.Conflict && r.SubmittedAt != nil && CheckScores(m, r) == nil
}

// TechnicalThreshold is the least mean technical score a proposal needs to
// be fundable: below it the ranking marks it, and an award is refused.
const TechnicalThreshold = 3

// Ranked is one proposal's place in its call's ranking.
type Ranked struct {
	Rank     int     `json:"rank"` // 1 is first; 0: not ranked (no complete review)
	Proposal string  `json:"proposal"`
	Project  string  `json:"project"`
	State    string  `json:"state"`
	Hours    float64 `json:"hours"` // asked, in all
	// Technical and Scientific are the means of the complete reviews.
	Technical  float64 `json:"technical"`
	Scientific float64 `json:"scientific,omitempty"`
	Reviews    int     `json:"reviews"` // complete reviews
	// Fundable: at least one complete review and a technical mean at the
	// threshold or above.
	Fundable bool   `json:"fundable"`
	Note     string `json:"note,omitempty"`
}

// Rank orders call c's proposals by their reviews: fundable first, then by
// mean scientific score (peer-reviewed modes), then mean technical score,
// then earlier submission, then id, so that equal inputs rank alike.
// Drafts and withdrawn proposals are left out; proposals without a
// complete review come last, unranked (Rank 0).
func Rank(c core.Call, proposals []core.Proposal, reviews []core.Review) []Ranked {
	m := Modes[c.Mode]
	byProposal := map[string][]core.Review{}
	for _, r := range reviews {
		byProposal[r.Proposal] = append(byProposal[r.Proposal], r)
	}
	type entry struct {
		Ranked
		submitted int64
	}
	var es []entry
	for _, p := range proposals {
		if p.Call != c.ID || p.State == core.ProposalDraft || p.State == core.ProposalWithdrawn {
			continue
		}
		e := entry{Ranked: Ranked{Proposal: p.ID, Project: p.Project, State: p.State, Hours: TotalHours(p.Hours)}}
		if p.SubmittedAt != nil {
			e.submitted = p.SubmittedAt.UnixMicro()
		}
		var tech, sci float64
		for _, r := range byProposal[p.ID] {
			if Complete(m, r) {
				e.Reviews++
				tech += float64(r.Technical)
				sci += float64(r.Scientific)
			}
		}
		switch {
		case !m.Reviewed():
			e.Fundable = true
			e.Note = "no review in " + c.Mode
		case e.Reviews == 0:
			e.Note = "no complete review"
		default:
			e.Technical = tech / float64(e.Reviews)
			e.Scientific = sci / float64(e.Reviews)
			e.Fundable = e.Technical >= TechnicalThreshold
			if !e.Fundable {
				e.Note = fmt.Sprintf("technical mean below %d", TechnicalThreshold)
			}
		}
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b entry) int {
		ar, br := a.Reviews > 0 || !m.Reviewed(), b.Reviews > 0 || !m.Reviewed()
		if ar != br {
			if ar {
				return -1
			}
			return 1
		}
		if a.Fundable != b.Fundable {
			if a.Fundable {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(b.Scientific, a.Scientific),
			cmp.Compare(b.Technical, a.Technical),
			cmp.Compare(a.submitted, b.submitted),
			cmp.Compare(a.Proposal, b.Proposal),
		)
	})
	out := make([]Ranked, len(es))
	n := 0
	for i, e := range es {
		if e.Reviews > 0 || !m.Reviewed() {
			n++
			e.Rank = n
		}
		out[i] = e.Ranked
	}
	return out
}
