package core

import (
	"errors"
	"fmt"
)

// ErrAuditBroken is wrapped by an AuditReport's Err when the audit log does
// not check out.
var ErrAuditBroken = errors.New("audit chain broken")

// AuditProblem is one finding of the audit log's check, at the entry Seq.
type AuditProblem struct {
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// AuditReport is the check of the audit log (the store's
// VerifyAuditKey, GET /api/v1/audit?verify=true, gf audit verify).
type AuditReport struct {
	// Entries is the number of entries read; Issued the seqs handed out.
	Entries int64 `json:"entries"`
	Issued  int64 `json:"issued"`
	// Checkpoints is the number of checkpoints read; SignedThrough the last
	// seq covered by a checkpoint whose signature verified.
	Checkpoints   int   `json:"checkpoints"`
	SignedThrough int64 `json:"signed_through"`
	// KeyChecked says the checkpoints were checked against a public key
	// (KeyID); without one, the chain alone was checked.
	KeyChecked bool   `json:"key_checked"`
	KeyID      string `json:"key_id,omitempty"`
	// Recomputed says the chain links up but a signed checkpoint disagrees
	// with it: someone without the key rewrote the chain.
	Recomputed bool `json:"recomputed"`
	// Problems lists the first findings in order of seq (at most 20);
	// MoreProblems counts those left out.
	Problems     []AuditProblem `json:"problems,omitempty"`
	MoreProblems int            `json:"more_problems,omitempty"`
}

// OK reports whether nothing was found.
func (r AuditReport) OK() bool { return len(r.Problems) == 0 }

// Err is nil for a sound log, else an error wrapping ErrAuditBroken that
// names the first bad seq and what was wrong with it.
func (r AuditReport) Err() error {
	if r.OK() {
		return nil
	}
	p := r.Problems[0]
	msg := fmt.Sprintf("seq %d: %v: %s", p.Seq, ErrAuditBroken, p.Message)
	if r.Recomputed {
		msg += " (the chain links up: it was recomputed without the signing key)"
	}
	if n := len(r.Problems) + r.MoreProblems - 1; n > 0 {
		msg += fmt.Sprintf("; and %d more finding(s)", n)
	}
	return &auditError{msg: msg}
}

type auditError struct{ msg string }

func (e *auditError) Error() string { return e.msg }
func (e *auditError) Unwrap() error { return ErrAuditBroken }
