// Package access holds the rules of the access process of the EuroHPC AI
// Factories (issue 14; ../shared/reference/EU-FACTS.md section 2): who may
// apply to a call, how a proposal moves from draft to a decision, who may
// review it, how reviews rank a call's proposals, and how much an
// allocator may award. It is pure: no I/O, no clock (time comes in as a
// value), so the API and the tests ask the same questions.
//
//	call (allocator) ──▶ proposal (PI) ──▶ reviews (reviewers) ──▶ ranking ──▶ award | reject (allocator)
//	  CheckCall            Eligible          CheckAssignment          Rank        CheckAward
//	                       CheckRequest      CheckScores
//	                       Transition
package access

import (
	"errors"
	"fmt"

	"github.com/gigafactory/gigafactory/internal/core"
)

// FieldError is a refusal that names the offending field, as the API's
// problem documents do.
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)}
}

// ErrState is wrapped by refusals that the proposal's or call's state
// causes (the API answers them 409).
var ErrState = errors.New("not allowed in this state")

// Mode describes an access mode: its code in ids, the bound on one
// proposal's hours and which reviews it needs.
type Mode struct {
	Name string
	Code string // two letters in ids: PG, FL, LS, MS
	// MaxHours bounds one proposal (0: none); MinHours is the least a
	// proposal must ask (large scale is for more than 50,000).
	MinHours, MaxHours float64
	// Technical and Scientific say which scores a review must give;
	// neither: no review (the playground).
	Technical, Scientific bool
	// Invitation: only the call's invited organisations may apply.
	Invitation bool
}

// FastLaneMaxHours is the fast lane's bound and the large scale's floor.
const FastLaneMaxHours = 50_000

// PlaygroundMaxHours bounds a playground proposal. The official page gives
// no hard cap; proposal writers cite under 1,000 GPU-hours (EU-FACTS.md
// 2.1, low confidence), so this is the platform's choice.
const PlaygroundMaxHours = 1_000

// Modes are the AI Factories' access modes (EU-FACTS.md 2.1) by QoS name.
var Modes = map[string]Mode{
	core.QoSPlayground: {Name: core.QoSPlayground, Code: "PG", MaxHours: PlaygroundMaxHours},
	core.QoSFastLane:   {Name: core.QoSFastLane, Code: "FL", MaxHours: FastLaneMaxHours, Technical: true},
	core.QoSLargeScale: {Name: core.QoSLargeScale, Code: "LS", MinHours: FastLaneMaxHours, Technical: true, Scientific: true},
	core.QoSMoonshot:   {Name: core.QoSMoonshot, Code: "MS", MinHours: FastLaneMaxHours, Technical: true, Scientific: true, Invitation: true},
}

// ModeNames lists the access modes in help order.
var ModeNames = []string{core.QoSPlayground, core.QoSFastLane, core.QoSLargeScale, core.QoSMoonshot}

// Reviewed reports whether proposals of mode need reviews before an award.
func (m Mode) Reviewed() bool { return m.Technical || m.Scientific }

// TotalHours sums hours over models.
func TotalHours(hours map[string]float64) float64 {
	var t float64
	for _, h := range hours {
		t += h
	}
	return t
}
