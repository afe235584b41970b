package access

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func call(mode string) core.Call {
	return core.Call{ID: "EHPC-AIF-2026LS01", Title: "AI Factories " + mode, Mode: mode, State: core.CallOpen,
		Opens: t0, Closes: t0.Add(30 * 24 * time.Hour), Models: []string{"h100", "a100"}, TotalHours: 200_000}
}

func proposal(hours map[string]float64) core.Proposal {
	return core.Proposal{ID: "EHPC-AIF-2026LS01-1001", Call: "EHPC-AIF-2026LS01", Project: "rocket", Org: "acme", PI: "ada",
		Title: "LLM", Hours: hours, Start: t0, End: t0.Add(90 * 24 * time.Hour), State: core.ProposalSubmitted}
}

// field returns the field a FieldError names, "" for another error, "ok"
// for none.
func field(err error) string {
	var fe *FieldError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe):
		return fe.Field
	case errors.Is(err, ErrState):
		return "state"
	}
	return err.Error()
}

func TestEligible(t *testing.T) {
	tests := map[string]struct {
		call core.Call
		org  core.Org
		want string
	}{
		"EU startup":            {call(core.QoSFastLane), core.Org{Name: "acme", Kind: core.OrgStartup, Country: "DE"}, "ok"},
		"associated Norway":     {call(core.QoSFastLane), core.Org{Name: "n", Kind: core.OrgResearch, Country: "NO"}, "ok"},
		"associated UK":         {call(core.QoSFastLane), core.Org{Name: "u", Kind: core.OrgResearch, Country: "GB"}, "ok"},
		"United States refused": {call(core.QoSFastLane), core.Org{Name: "us", Kind: core.OrgIndustry, Country: "US"}, "project"},
		"China refused":         {call(core.QoSFastLane), core.Org{Name: "cn", Kind: core.OrgResearch, Country: "CN"}, "project"},
		"kind not admitted": {func() core.Call {
			c := call(core.QoSFastLane)
			c.Kinds = []string{core.OrgSME, core.OrgStartup}
			return c
		}(), core.Org{Name: "i", Kind: core.OrgIndustry, Country: "FR"}, "project"},
		"kind admitted": {func() core.Call {
			c := call(core.QoSFastLane)
			c.Kinds = []string{core.OrgSME, core.OrgStartup}
			return c
		}(), core.Org{Name: "s", Kind: core.OrgSME, Country: "FR"}, "ok"},
		"country narrowed":        {func() core.Call { c := call(core.QoSFastLane); c.Countries = []string{"LU"}; return c }(), core.Org{Name: "s", Kind: core.OrgSME, Country: "FR"}, "project"},
		"moonshot not invited":    {func() core.Call { c := call(core.QoSMoonshot); c.Invited = []string{"big"}; return c }(), core.Org{Name: "s", Kind: core.OrgSME, Country: "FR"}, "project"},
		"moonshot invited":        {func() core.Call { c := call(core.QoSMoonshot); c.Invited = []string{"big"}; return c }(), core.Org{Name: "big", Kind: core.OrgResearch, Country: "IT"}, "ok"},
		"lower-case country code": {call(core.QoSFastLane), core.Org{Name: "l", Kind: core.OrgPublic, Country: "lu"}, "ok"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(Eligible(tc.call, tc.org)); got != tc.want {
				t.Errorf("Eligible = %s, want %s", got, tc.want)
			}
		})
	}
	if len(EUMembers) != 27 {
		t.Errorf("%d EU member states, want 27", len(EUMembers))
	}
	for _, c := range EUMembers {
		for _, a := range Associated {
			if c == a {
				t.Errorf("%s is both a member state and associated", c)
			}
		}
	}
}

func TestCheckCall(t *testing.T) {
	with := func(mode string, f func(*core.Call)) core.Call { c := call(mode); f(&c); return c }
	tests := map[string]struct {
		call core.Call
		want string
	}{
		"large scale":              {call(core.QoSLargeScale), "ok"},
		"unknown mode":             {with("regular", func(*core.Call) {}), "mode"},
		"no title":                 {with(core.QoSFastLane, func(c *core.Call) { c.Title = " " }), "title"},
		"no hours":                 {with(core.QoSFastLane, func(c *core.Call) { c.TotalHours = 0 }), "total_hours"},
		"fast lane max too high":   {with(core.QoSFastLane, func(c *core.Call) { c.MaxHours = 60_000 }), "max_hours"},
		"max above total":          {with(core.QoSLargeScale, func(c *core.Call) { c.MaxHours = 300_000 }), "max_hours"},
		"no models":                {with(core.QoSFastLane, func(c *core.Call) { c.Models = nil }), "models"},
		"bad kind":                 {with(core.QoSFastLane, func(c *core.Call) { c.Kinds = []string{"sme", "pirate"} }), "kinds[1]"},
		"ineligible country":       {with(core.QoSFastLane, func(c *core.Call) { c.Countries = []string{"US"} }), "countries[0]"},
		"moonshot without guests":  {call(core.QoSMoonshot), "invited"},
		"invited outside moonshot": {with(core.QoSFastLane, func(c *core.Call) { c.Invited = []string{"x"} }), "invited"},
		"closes before opens":      {with(core.QoSFastLane, func(c *core.Call) { c.Closes = t0.Add(-time.Hour) }), "closes"},
		"continuous":               {with(core.QoSFastLane, func(c *core.Call) { c.Closes = time.Time{} }), "ok"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(CheckCall(tc.call)); got != tc.want {
				t.Errorf("CheckCall = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAccepting(t *testing.T) {
	c := call(core.QoSLargeScale)
	closed := c
	closed.State = core.CallClosed
	tests := map[string]struct {
		call core.Call
		now  time.Time
		want string
	}{
		"open":         {c, t0.Add(time.Hour), "ok"},
		"before opens": {c, t0.Add(-time.Hour), "state"},
		"at cut-off":   {c, c.Closes, "state"},
		"closed":       {closed, t0.Add(time.Hour), "state"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(Accepting(tc.call, tc.now)); got != tc.want {
				t.Errorf("Accepting = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCheckRequest(t *testing.T) {
	with := func(hours map[string]float64, f func(*core.Proposal)) core.Proposal {
		p := proposal(hours)
		f(&p)
		return p
	}
	none := func(*core.Proposal) {}
	tests := map[string]struct {
		mode string
		p    core.Proposal
		want string
	}{
		"large scale":            {core.QoSLargeScale, with(map[string]float64{"h100": 60_000, "a100": 10_000}, none), "ok"},
		"large scale too small":  {core.QoSLargeScale, with(map[string]float64{"h100": 50_000}, none), "hours"},
		"fast lane at its bound": {core.QoSFastLane, with(map[string]float64{"h100": 50_000}, none), "ok"},
		"fast lane over":         {core.QoSFastLane, with(map[string]float64{"h100": 40_000, "a100": 10_001}, none), "hours"},
		"playground over":        {core.QoSPlayground, with(map[string]float64{"h100": 1_001}, none), "hours"},
		"model not offered":      {core.QoSFastLane, with(map[string]float64{"mi300x": 10}, none), "hours.mi300x"},
		"negative hours":         {core.QoSFastLane, with(map[string]float64{"h100": -1}, none), "hours.h100"},
		"no hours":               {core.QoSFastLane, with(nil, none), "hours"},
		"over the call's total":  {core.QoSLargeScale, with(map[string]float64{"h100": 250_000}, none), "hours"},
		"no title":               {core.QoSFastLane, with(map[string]float64{"h100": 10}, func(p *core.Proposal) { p.Title = "" }), "title"},
		"no start":               {core.QoSFastLane, with(map[string]float64{"h100": 10}, func(p *core.Proposal) { p.Start = time.Time{} }), "start"},
		"ends before it starts":  {core.QoSFastLane, with(map[string]float64{"h100": 10}, func(p *core.Proposal) { p.End = p.Start }), "end"},
		"bad residency":          {core.QoSFastLane, with(map[string]float64{"h100": 10}, func(p *core.Proposal) { p.Residency = []string{"DE", "Germany"} }), "residency[1]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(CheckRequest(call(tc.mode), tc.p)); got != tc.want {
				t.Errorf("CheckRequest = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	allowed := map[[2]string]bool{
		{core.ProposalDraft, core.ProposalSubmitted}:       true,
		{core.ProposalDraft, core.ProposalWithdrawn}:       true,
		{core.ProposalSubmitted, core.ProposalUnderReview}: true,
		{core.ProposalSubmitted, core.ProposalAwarded}:     true,
		{core.ProposalSubmitted, core.ProposalRejected}:    true,
		{core.ProposalSubmitted, core.ProposalWithdrawn}:   true,
		{core.ProposalUnderReview, core.ProposalAwarded}:   true,
		{core.ProposalUnderReview, core.ProposalRejected}:  true,
		{core.ProposalUnderReview, core.ProposalWithdrawn}: true,
	}
	for _, from := range ProposalStates {
		for _, to := range ProposalStates {
			err := Transition(from, to)
			if got := err == nil; got != allowed[[2]string{from, to}] {
				t.Errorf("Transition(%s, %s) = %v, want allowed %v", from, to, err, allowed[[2]string{from, to}])
			}
			if err != nil && !errors.Is(err, ErrState) {
				t.Errorf("Transition(%s, %s) = %v, want ErrState", from, to, err)
			}
		}
	}
	if field(Transition(core.ProposalDraft, "dreaming")) != "state" {
		t.Errorf("an unknown state is not named")
	}
	for _, s := range []string{core.ProposalAwarded, core.ProposalRejected, core.ProposalWithdrawn} {
		if !Final(s) {
			t.Errorf("%s is not final", s)
		}
	}
}

func TestCheckAssignment(t *testing.T) {
	p := proposal(map[string]float64{"h100": 60_000})
	rev := func(name, org, role string) core.User { return core.User{Name: name, Org: org, Role: role} }
	conflicts := []core.Conflict{
		{Reviewer: "carol", Org: "acme", Reason: "former employer"},
		{Reviewer: "dave", Project: "rocket", Reason: "co-author"},
		{Reviewer: "erin", Project: "other", Reason: "unrelated"},
	}
	tests := map[string]struct {
		mode     string
		reviewer core.User
		want     string
	}{
		"independent reviewer":        {core.QoSLargeScale, rev("bob", "uni", core.RoleReviewer), ""},
		"same organisation as the PI": {core.QoSLargeScale, rev("rita", "acme", core.RoleReviewer), RefuseSameOrg},
		"conflict with the org":       {core.QoSLargeScale, rev("carol", "uni", core.RoleReviewer), RefuseConflict},
		"conflict with the project":   {core.QoSLargeScale, rev("dave", "uni", core.RoleReviewer), RefuseConflict},
		"conflict elsewhere":          {core.QoSLargeScale, rev("erin", "uni", core.RoleReviewer), ""},
		"not a reviewer":              {core.QoSLargeScale, rev("ua", "uni", core.RoleUser), RefuseNotReviewer},
		"the PI":                      {core.QoSLargeScale, rev("ada", "", core.RoleAdmin), RefusePI},
		"playground has no review":    {core.QoSPlayground, rev("bob", "uni", core.RoleReviewer), RefuseNoReview},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckAssignment(call(tc.mode), p, tc.reviewer, conflicts)
			var r *Refusal
			got := ""
			if errors.As(err, &r) {
				got = r.Code
			} else if err != nil {
				t.Fatalf("not a Refusal: %v", err)
			}
			if got != tc.want {
				t.Errorf("CheckAssignment = %q (%v), want %q", got, err, tc.want)
			}
			if err != nil && r.Detail == "" {
				t.Errorf("refusal without a reason")
			}
		})
	}
}

func TestCheckScores(t *testing.T) {
	tests := map[string]struct {
		mode      string
		tech, sci int
		want      string
	}{
		"large scale both":       {core.QoSLargeScale, 4, 5, "ok"},
		"large scale no science": {core.QoSLargeScale, 4, 0, "scientific"},
		"fast lane technical":    {core.QoSFastLane, 3, 0, "ok"},
		"fast lane science":      {core.QoSFastLane, 3, 4, "scientific"},
		"technical too high":     {core.QoSFastLane, 6, 0, "technical"},
		"technical missing":      {core.QoSLargeScale, 0, 4, "technical"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(CheckScores(Modes[tc.mode], core.Review{Technical: tc.tech, Scientific: tc.sci})); got != tc.want {
				t.Errorf("CheckScores = %s, want %s", got, tc.want)
			}
		})
	}
}

func submitted(id string, at time.Duration, hours float64) core.Proposal {
	p := proposal(map[string]float64{"h100": hours})
	p.ID = id
	s := t0.Add(at)
	p.SubmittedAt = &s
	return p
}

func review(p, who string, tech, sci int) core.Review {
	done := t0
	return core.Review{Proposal: p, Reviewer: who, Technical: tech, Scientific: sci, SubmittedAt: &done}
}

func TestRank(t *testing.T) {
	c := call(core.QoSLargeScale)
	ps := []core.Proposal{
		submitted("P-a", 1*time.Hour, 60_000),
		submitted("P-b", 2*time.Hour, 70_000),
		submitted("P-c", 3*time.Hour, 80_000),
		submitted("P-d", 4*time.Hour, 90_000),
		submitted("P-e", 5*time.Hour, 90_000),
		func() core.Proposal { p := submitted("P-draft", 0, 60_000); p.State = core.ProposalDraft; return p }(),
	}
	conflicted := review("P-a", "zed", 5, 5)
	conflicted.Conflict = true
	pending := core.Review{Proposal: "P-c", Reviewer: "late"}
	rs := []core.Review{
		review("P-a", "r1", 4, 3), review("P-a", "r2", 4, 5), conflicted, // tech 4, sci 4
		review("P-b", "r1", 2, 5),          // sci 5 but technically weak: not fundable
		review("P-c", "r1", 5, 4), pending, // tech 5, sci 4: ahead of P-a on technical
		review("P-e", "r1", 4, 4), // as P-a, submitted later
	}
	got := Rank(c, ps, rs)
	want := []Ranked{
		{Rank: 1, Proposal: "P-c", Project: "rocket", State: core.ProposalSubmitted, Hours: 80_000, Technical: 5, Scientific: 4, Reviews: 1, Fundable: true},
		{Rank: 2, Proposal: "P-a", Project: "rocket", State: core.ProposalSubmitted, Hours: 60_000, Technical: 4, Scientific: 4, Reviews: 2, Fundable: true},
		{Rank: 3, Proposal: "P-e", Project: "rocket", State: core.ProposalSubmitted, Hours: 90_000, Technical: 4, Scientific: 4, Reviews: 1, Fundable: true},
		{Rank: 4, Proposal: "P-b", Project: "rocket", State: core.ProposalSubmitted, Hours: 70_000, Technical: 2, Scientific: 5, Reviews: 1, Note: "technical mean below 3"},
		{Rank: 0, Proposal: "P-d", Project: "rocket", State: core.ProposalSubmitted, Hours: 90_000, Note: "no complete review"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rank (-want +got):\n%s", diff)
	}
}

func TestCheckAward(t *testing.T) {
	c := call(core.QoSLargeScale)
	c.State = core.CallClosed
	p := submitted("EHPC-AIF-2026LS01-1001", time.Hour, 0)
	p.Hours = map[string]float64{"h100": 100_000, "a100": 20_000}
	good := []core.Review{review(p.ID, "r1", 4, 4)}
	award := func(h map[string]float64, f func(*core.Award)) core.Award {
		a := core.Award{ID: p.ID, Project: p.Project, Call: c.ID, Hours: h, ValidFrom: t0, ValidTo: t0.Add(90 * 24 * time.Hour)}
		f(&a)
		return a
	}
	none := func(*core.Award) {}
	other := []core.Award{{ID: "EHPC-AIF-2026LS01-1002", Call: c.ID, Hours: map[string]float64{"h100": 150_000}}}
	openCall := c
	openCall.State = core.CallOpen
	tests := map[string]struct {
		call    core.Call
		reviews []core.Review
		awarded []core.Award
		award   core.Award
		want    string
	}{
		"within the total":       {c, good, nil, award(map[string]float64{"h100": 100_000}, none), "ok"},
		"exactly what is left":   {c, good, other, award(map[string]float64{"h100": 30_000, "a100": 20_000}, none), "ok"},
		"beyond the call total":  {c, good, other, award(map[string]float64{"h100": 40_000, "a100": 20_000}, none), "hours"},
		"more than asked":        {c, good, nil, award(map[string]float64{"a100": 30_000}, none), "hours.a100"},
		"model not asked":        {c, good, nil, award(map[string]float64{"mi300x": 1}, none), "hours.mi300x"},
		"no review":              {c, nil, nil, award(map[string]float64{"h100": 1}, none), "state"},
		"only a conflicted one":  {c, []core.Review{func() core.Review { r := review(p.ID, "z", 5, 5); r.Conflict = true; return r }()}, nil, award(map[string]float64{"h100": 1}, none), "state"},
		"not fundable":           {c, []core.Review{review(p.ID, "r1", 2, 5)}, nil, award(map[string]float64{"h100": 1}, none), "state"},
		"before the cut-off":     {openCall, good, nil, award(map[string]float64{"h100": 1}, none), "state"},
		"period backwards":       {c, good, nil, award(map[string]float64{"h100": 1}, func(a *core.Award) { a.ValidTo = t0 }), "valid_to"},
		"site not offered":       {func() core.Call { x := c; x.Sites = []string{"lumi"}; return x }(), good, nil, award(map[string]float64{"h100": 1}, func(a *core.Award) { a.Sites = []string{"lumi", "mars"} }), "sites[1]"},
		"overdraft out of range": {c, good, nil, award(map[string]float64{"h100": 1}, func(a *core.Award) { a.Overdraft = 2 }), "overdraft"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(CheckAward(tc.call, p, tc.reviews, tc.awarded, tc.award)); got != tc.want {
				t.Errorf("CheckAward = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("playground needs no review", func(t *testing.T) {
		pg := call(core.QoSPlayground)
		pp := submitted("EHPC-AIF-2026PG01-1001", 0, 500)
		a := core.Award{Hours: map[string]float64{"h100": 500}, ValidFrom: t0, ValidTo: t0.Add(time.Hour)}
		if err := CheckAward(pg, pp, nil, nil, a); err != nil {
			t.Errorf("CheckAward = %v", err)
		}
	})
	t.Run("a decided proposal", func(t *testing.T) {
		done := p
		done.State = core.ProposalAwarded
		if got := field(CheckAward(c, done, good, nil, award(map[string]float64{"h100": 1}, none))); got != "state" {
			t.Errorf("CheckAward = %s, want state", got)
		}
	})
}

func TestCheckExtension(t *testing.T) {
	a := core.Award{Hours: map[string]float64{"h100": 100}, ValidFrom: t0, ValidTo: t0.Add(time.Hour)}
	tests := map[string]struct {
		next core.Award
		want string
	}{
		"longer":      {core.Award{Hours: map[string]float64{"h100": 100}, ValidTo: t0.Add(2 * time.Hour)}, "ok"},
		"more hours":  {core.Award{Hours: map[string]float64{"h100": 150, "a100": 10}, ValidTo: t0.Add(time.Hour)}, "ok"},
		"shorter":     {core.Award{Hours: map[string]float64{"h100": 100}, ValidTo: t0}, "valid_to"},
		"fewer hours": {core.Award{Hours: map[string]float64{"h100": 50}, ValidTo: t0.Add(time.Hour)}, "hours.h100"},
		"bad model":   {core.Award{Hours: map[string]float64{"h100": 100, "a100": -1}, ValidTo: t0.Add(time.Hour)}, "hours.a100"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := field(CheckExtension(a, tc.next)); got != tc.want {
				t.Errorf("CheckExtension = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	tests := map[string]struct {
		mode           string
		year, cutoff   int
		serial         int
		call, proposal string
		err            string
	}{
		"playground": {core.QoSPlayground, 2026, 1, 1124, "EHPC-AIF-2026PG01", "EHPC-AIF-2026PG01-1124", ""},
		"fast lane":  {core.QoSFastLane, 2026, 12, 1001, "EHPC-AIF-2026FL12", "EHPC-AIF-2026FL12-1001", ""},
		"large":      {core.QoSLargeScale, 2027, 3, 7, "EHPC-AIF-2027LS03", "EHPC-AIF-2027LS03-0007", ""},
		"moonshot":   {core.QoSMoonshot, 2026, 1, 1001, "EHPC-AIF-2026MS01", "EHPC-AIF-2026MS01-1001", ""},
		"bad mode":   {"normal", 2026, 1, 1, "", "", "mode"},
		"bad cutoff": {core.QoSFastLane, 2026, 100, 1, "", "", "cutoff"},
		"bad year":   {core.QoSFastLane, 26, 1, 1, "", "", "year"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := CallID(tc.mode, tc.year, tc.cutoff)
			if tc.err != "" {
				if field(err) != tc.err {
					t.Fatalf("CallID error %v, want field %s", err, tc.err)
				}
				return
			}
			if err != nil || c != tc.call {
				t.Fatalf("CallID = %q, %v; want %q", c, err, tc.call)
			}
			p, err := ProposalID(c, tc.serial)
			if err != nil || p != tc.proposal {
				t.Fatalf("ProposalID = %q, %v; want %q", p, err, tc.proposal)
			}
			mode, year, cutoff, err := ParseCallID(c)
			if err != nil || mode != tc.mode || year != tc.year || cutoff != tc.cutoff {
				t.Errorf("ParseCallID(%s) = %s %d %d %v", c, mode, year, cutoff, err)
			}
			back, serial, err := ParseProposalID(p)
			if err != nil || back != c || serial != tc.serial {
				t.Errorf("ParseProposalID(%s) = %s %d %v", p, back, serial, err)
			}
		})
	}
	for _, bad := range []string{"EHPC-AIF-2026XX01", "ehpc-aif-2026pg01", "EHPC-AIF-2026PG1", ""} {
		if _, _, _, err := ParseCallID(bad); err == nil {
			t.Errorf("ParseCallID(%q) accepted", bad)
		}
	}
	if _, err := ProposalID("nope", 1); field(err) != "call" {
		t.Errorf("ProposalID of a bad call: %v", err)
	}
}
