package access

import (
	"fmt"
	"regexp"
	"strconv"
)

// Ids follow the EuroHPC AI Factories' style (EU-FACTS.md 2.1):
// a call (one cut-off of one mode) is "EHPC-AIF-2026PG01": the year, the
// mode's code and the cut-off's number; a proposal, and the project award
// made on it, is the call's id and a four-digit serial:
// "EHPC-AIF-2026PG01-1124".
var (
	callIDRE     = regexp.MustCompile(`^EHPC-AIF-(\d{4})(PG|FL|LS|MS)(\d{2})$`)
	proposalIDRE = regexp.MustCompile(`^(EHPC-AIF-\d{4}(?:PG|FL|LS|MS)\d{2})-(\d{4})$`)
)

// FirstSerial is the serial of a call's first proposal.
const FirstSerial = 1001

// CallID is the id of cut-off number cutoff (1-99) of year in mode.
func CallID(mode string, year, cutoff int) (string, error) {
	m, ok := Modes[mode]
	if !ok {
		return "", fieldErr("mode", "want one of %v, got %q", ModeNames, mode)
	}
	if year < 2000 || year > 9999 {
		return "", fieldErr("year", "want a four-digit year, got %d", year)
	}
	if cutoff < 1 || cutoff > 99 {
		return "", fieldErr("cutoff", "want 1 to 99, got %d", cutoff)
	}
	return fmt.Sprintf("EHPC-AIF-%04d%s%02d", year, m.Code, cutoff), nil
}

// ProposalID is the id of call's proposal with serial (FirstSerial on).
func ProposalID(call string, serial int) (string, error) {
	if !callIDRE.MatchString(call) {
		return "", fieldErr("call", "not a call id like EHPC-AIF-2026PG01: %q", call)
	}
	if serial < 0 || serial > 9999 {
		return "", fieldErr("serial", "want 0 to 9999, got %d", serial)
	}
	return fmt.Sprintf("%s-%04d", call, serial), nil
}

// ParseCallID returns a call id's mode, year and cut-off.
func ParseCallID(id string) (mode string, year, cutoff int, err error) {
	m := callIDRE.FindStringSubmatch(id)
	if m == nil {
		return "", 0, 0, fieldErr("id", "not a call id like EHPC-AIF-2026PG01: %q", id)
	}
	year, _ = strconv.Atoi(m[1])
	cutoff, _ = strconv.Atoi(m[3])
	for name, md := range Modes {
		if md.Code == m[2] {
			mode = name
		}
	}
	return mode, year, cutoff, nil
}

// ParseProposalID returns a proposal id's call id and serial.
func ParseProposalID(id string) (call string, serial int, err error) {
	m := proposalIDRE.FindStringSubmatch(id)
	if m == nil {
		return "", 0, fieldErr("id", "not a proposal id like EHPC-AIF-2026PG01-1124: %q", id)
	}
	serial, _ = strconv.Atoi(m[2])
	return m[1], serial, nil
}
