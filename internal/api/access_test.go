package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/core"
)

// userToken stores a user with role in org and returns an API token of
// theirs.
func (ts *testServer) userToken(t *testing.T, name, org, role string) string {
	t.Helper()
	ctx := context.Background()
	must(t, ts.st.CreateUser(ctx, core.User{Name: name, Org: org, Role: role, CreatedAt: time.Now()}))
	tok, hash := NewToken()
	must(t, ts.st.CreateToken(ctx, name, hash, "test"))
	return tok
}

// expect checks a status and, for a problem, the field it names.
func expect(t *testing.T, what string, got, want int, p Problem, field string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %d (%+v), want %d", what, got, p, want)
	}
	if field != "" {
		found := false
		for _, e := range p.Errors {
			found = found || e.Field == field
		}
		if !found {
			t.Fatalf("%s: problem %+v does not name %q", what, p, field)
		}
	}
}

// TestAccessProcess walks a call to its awards over real HTTP: a call
// (an allocator), proposals (a PI), reviewers (one of the PI's
// organisation and one with a declared conflict refused), reviews, the
// ranking, awards within the call's total (one beyond it refused), an
// extension; and who sees what.
func TestAccessProcess(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	must(t, ts.st.CreateOrg(ctx, core.Org{Name: "uni", Kind: core.OrgResearch, Country: "IT", CreatedAt: time.Now()}))
	must(t, ts.st.CreateOrg(ctx, core.Org{Name: "yankee", Kind: core.OrgStartup, Country: "US", CreatedAt: time.Now()}))
	must(t, ts.st.CreateProject(ctx, core.Project{Name: "rocket2", Org: "acme", CreatedAt: time.Now()}))
	must(t, ts.st.CreateProject(ctx, core.Project{Name: "yproj", Org: "yankee", CreatedAt: time.Now()}))
	alloc := ts.userToken(t, "alloc", "default", core.RoleAllocator)
	ada := ts.userToken(t, "ada", "acme", core.RoleUser)
	bob := ts.userToken(t, "bob", "acme", core.RoleUser)
	eve := ts.userToken(t, "eve", "default", core.RoleUser)
	yuri := ts.userToken(t, "yuri", "yankee", core.RoleUser)
	rev1 := ts.userToken(t, "rev1", "uni", core.RoleReviewer)
	rev2 := ts.userToken(t, "rev2", "uni", core.RoleReviewer)
	revConf := ts.userToken(t, "revconf", "uni", core.RoleReviewer)
	ts.userToken(t, "revacme", "acme", core.RoleReviewer)
	var p Problem

	// The call: allocators only; a draft is invisible to others.
	callBody := map[string]any{"title": "AI Factories large scale", "mode": "large-scale", "closes": time.Now().Add(time.Hour),
		"models": []string{"h100", "a100"}, "total_hours": 100_000, "kinds": []string{"startup", "sme", "research"}}
	expect(t, "ada creates a call", ts.do(t, ada, "POST", "/api/v1/calls", callBody, &p), 403, p, "")
	expect(t, "a call of no mode", ts.do(t, alloc, "POST", "/api/v1/calls", map[string]any{"title": "x", "mode": "normal", "models": []string{"h100"}, "total_hours": 1}, &p), 422, p, "mode")
	var call core.Call
	expect(t, "alloc creates a call", ts.do(t, alloc, "POST", "/api/v1/calls", callBody, &call), 201, p, "")
	if want := fmt.Sprintf("EHPC-AIF-%dLS01", time.Now().Year()); call.ID != want || call.State != core.CallDraft {
		t.Fatalf("call %s %s, want %s draft", call.ID, call.State, want)
	}
	expect(t, "eve reads a draft call", ts.do(t, eve, "GET", "/api/v1/calls/"+call.ID, nil, &p), 404, p, "")
	expect(t, "ada opens it", ts.do(t, ada, "POST", "/api/v1/calls/"+call.ID+"/open", nil, &p), 403, p, "")
	expect(t, "alloc opens it", ts.do(t, alloc, "POST", "/api/v1/calls/"+call.ID+"/open", nil, &call), 200, p, "")
	var calls list[core.Call]
	if ts.do(t, eve, "GET", "/api/v1/calls", nil, &calls); len(calls.Items) != 1 {
		t.Errorf("eve lists %d open calls, want 1", len(calls.Items))
	}

	// Members: the PI is made by an administrator; the PI adds members.
	proposalBody := func(project string, hours map[string]float64) map[string]any {
		return map[string]any{"call": call.ID, "project": project, "title": "A European LLM", "abstract": "pretraining",
			"hours": hours, "start": time.Now().Add(24 * time.Hour), "end": time.Now().Add(120 * 24 * time.Hour), "submit": true}
	}
	expect(t, "ada proposes before she is PI", ts.do(t, ada, "POST", "/api/v1/proposals", proposalBody("rocket", map[string]float64{"h100": 60_000}), &p), 403, p, "")
	expect(t, "ada makes herself PI", ts.do(t, ada, "POST", "/api/v1/projects/rocket/members", map[string]string{"user": "ada", "role": "pi"}, &p), 403, p, "")
	for _, proj := range []string{"rocket", "rocket2"} {
		expect(t, "admin adds the PI", ts.do(t, ts.admin, "POST", "/api/v1/projects/"+proj+"/members", map[string]string{"user": "ada", "role": "pi"}, &p), 201, p, "")
	}
	expect(t, "admin adds yuri", ts.do(t, ts.admin, "POST", "/api/v1/projects/yproj/members", map[string]string{"user": "yuri", "role": "pi"}, &p), 201, p, "")
	expect(t, "ada adds bob", ts.do(t, ada, "POST", "/api/v1/projects/rocket/members", map[string]string{"user": "bob"}, &p), 201, p, "")
	expect(t, "ada adds eve of another organisation", ts.do(t, ada, "POST", "/api/v1/projects/rocket/members", map[string]string{"user": "eve"}, &p), 422, p, "user")
	expect(t, "bob adds a PI", ts.do(t, bob, "POST", "/api/v1/projects/rocket/members", map[string]string{"user": "bob", "role": "pi"}, &p), 403, p, "")
	expect(t, "eve reads rocket's members", ts.do(t, eve, "GET", "/api/v1/projects/rocket/members", nil, &p), 404, p, "")
	var members list[core.Membership]
	if ts.do(t, bob, "GET", "/api/v1/projects/rocket/members", nil, &members); len(members.Items) != 2 {
		t.Errorf("bob sees %d members of rocket, want 2", len(members.Items))
	}

	// Proposals: eligibility by country, the mode's bounds.
	expect(t, "a US startup applies", ts.do(t, yuri, "POST", "/api/v1/proposals", proposalBody("yproj", map[string]float64{"h100": 60_000}), &p), 422, p, "project")
	if !strings.Contains(p.Detail, "US") {
		t.Errorf("the refusal does not say why: %q", p.Detail)
	}
	expect(t, "too small for large scale", ts.do(t, ada, "POST", "/api/v1/proposals", proposalBody("rocket", map[string]float64{"h100": 10_000}), &p), 422, p, "hours")
	var p1, p2 core.Proposal
	expect(t, "ada proposes", ts.do(t, ada, "POST", "/api/v1/proposals", proposalBody("rocket", map[string]float64{"h100": 60_000}), &p1), 201, p, "")
	expect(t, "ada proposes again", ts.do(t, ada, "POST", "/api/v1/proposals", proposalBody("rocket2", map[string]float64{"h100": 55_000, "a100": 5_000}), &p2), 201, p, "")
	if p1.ID != call.ID+"-1001" || p2.ID != call.ID+"-1002" || p1.State != core.ProposalSubmitted {
		t.Fatalf("proposals %s (%s) and %s", p1.ID, p1.State, p2.ID)
	}
	expect(t, "eve reads the proposal", ts.do(t, eve, "GET", "/api/v1/proposals/"+p1.ID, nil, &p), 404, p, "")
	expect(t, "bob reads the proposal", ts.do(t, bob, "GET", "/api/v1/proposals/"+p1.ID, nil, nil), 200, p, "")

	// Reviewers: the PI's organisation and a declared conflict refused.
	assign := func(token, id, reviewer string) (int, Problem) {
		var p Problem
		return ts.do(t, token, "POST", "/api/v1/proposals/"+id+"/reviewers", map[string]string{"reviewer": reviewer}, &p), p
	}
	code, p := assign(alloc, p1.ID, "revacme")
	expect(t, "assign a reviewer of acme", code, 422, p, "reviewer")
	if !strings.Contains(p.Detail, access.RefuseSameOrg) {
		t.Errorf("same-organisation refusal says %q", p.Detail)
	}
	expect(t, "revconf declares a conflict", ts.do(t, revConf, "POST", "/api/v1/conflicts", map[string]string{"org": "acme", "reason": "advises acme"}, &p), 201, p, "")
	code, p = assign(alloc, p1.ID, "revconf")
	expect(t, "assign a conflicted reviewer", code, 422, p, "reviewer")
	if !strings.Contains(p.Detail, "advises acme") {
		t.Errorf("conflict refusal does not give the reason: %q", p.Detail)
	}
	code, p = assign(ada, p1.ID, "rev1")
	expect(t, "the PI assigns", code, 403, p, "")
	for _, a := range [][2]string{{p1.ID, "rev1"}, {p1.ID, "rev2"}, {p2.ID, "rev1"}} {
		code, p = assign(alloc, a[0], a[1])
		expect(t, "assign "+a[1], code, 201, p, "")
	}
	code, p = assign(alloc, p1.ID, "rev1")
	expect(t, "assign rev1 twice", code, 409, p, "")
	expect(t, "revconf reads the proposal", ts.do(t, revConf, "GET", "/api/v1/proposals/"+p1.ID, nil, &p), 404, p, "")
	var props list[core.Proposal]
	if ts.do(t, rev2, "GET", "/api/v1/proposals", nil, &props); len(props.Items) != 1 || props.Items[0].ID != p1.ID || props.Items[0].State != core.ProposalUnderReview {
		t.Errorf("rev2 lists %+v, want only %s under review", props.Items, p1.ID)
	}

	// Reviews.
	review := func(token, id string, body map[string]any) (int, Problem) {
		var p Problem
		return ts.do(t, token, "POST", "/api/v1/proposals/"+id+"/review", body, &p), p
	}
	code, p = review(rev1, p1.ID, map[string]any{"technical": 4})
	expect(t, "no scientific score", code, 422, p, "scientific")
	code, p = review(rev2, p2.ID, map[string]any{"technical": 4, "scientific": 4})
	expect(t, "rev2 reviews what is not theirs", code, 404, p, "")
	for _, r := range []struct {
		token, id string
		tech, sci int
	}{{rev1, p1.ID, 4, 5}, {rev2, p1.ID, 5, 4}, {rev1, p2.ID, 3, 3}} {
		code, p = review(r.token, r.id, map[string]any{"technical": r.tech, "scientific": r.sci, "comments": "sound plan"})
		expect(t, "review", code, 200, p, "")
	}
	var reviews list[core.Review]
	if ts.do(t, rev1, "GET", "/api/v1/proposals/"+p1.ID+"/reviews", nil, &reviews); len(reviews.Items) != 1 || reviews.Items[0].Reviewer != "rev1" {
		t.Errorf("rev1 sees reviews %+v, want only their own", reviews.Items)
	}
	if ts.do(t, ada, "GET", "/api/v1/proposals/"+p1.ID+"/reviews", nil, &reviews); len(reviews.Items) != 0 {
		t.Errorf("the PI sees %d reviews before the decision", len(reviews.Items))
	}

	// The ranking and the awards, after the cut-off.
	expect(t, "award before the cut-off", ts.do(t, alloc, "POST", "/api/v1/proposals/"+p1.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 60_000}}, &p), 409, p, "")
	expect(t, "close the call", ts.do(t, alloc, "POST", "/api/v1/calls/"+call.ID+"/close", nil, nil), 200, p, "")
	expect(t, "ada reads the ranking", ts.do(t, ada, "GET", "/api/v1/calls/"+call.ID+"/ranking", nil, &p), 403, p, "")
	var ranking list[access.Ranked]
	ts.do(t, alloc, "GET", "/api/v1/calls/"+call.ID+"/ranking", nil, &ranking)
	if len(ranking.Items) != 2 || ranking.Items[0].Proposal != p1.ID || ranking.Items[0].Rank != 1 || ranking.Items[0].Technical != 4.5 || ranking.Items[0].Reviews != 2 || ranking.Items[1].Rank != 2 {
		t.Fatalf("ranking %+v", ranking.Items)
	}
	expect(t, "ada awards herself", ts.do(t, ada, "POST", "/api/v1/proposals/"+p1.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 60_000}}, &p), 403, p, "")
	var a1 core.Award
	expect(t, "award p1", ts.do(t, alloc, "POST", "/api/v1/proposals/"+p1.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 60_000}, "overdraft": 0.1}, &a1), 201, p, "")
	if a1.ID != p1.ID || a1.Project != "rocket" || a1.Mode != core.QoSLargeScale || a1.Hours["h100"] != 60_000 || !a1.ValidTo.After(a1.ValidFrom) {
		t.Errorf("award %+v", a1)
	}
	expect(t, "award p2 beyond the call's total", ts.do(t, alloc, "POST", "/api/v1/proposals/"+p2.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 40_000, "a100": 5_000}}, &p), 422, p, "hours")
	if !strings.Contains(p.Detail, "40000 left") {
		t.Errorf("the refusal does not say what is left: %q", p.Detail)
	}
	expect(t, "award p2 what is left", ts.do(t, alloc, "POST", "/api/v1/proposals/"+p2.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 35_000, "a100": 5_000}}, nil), 201, p, "")
	expect(t, "award p1 twice", ts.do(t, alloc, "POST", "/api/v1/proposals/"+p1.ID+"/award", map[string]any{"hours": map[string]float64{"h100": 1}}, &p), 409, p, "")
	if ts.do(t, ada, "GET", "/api/v1/proposals/"+p1.ID+"/reviews", nil, &reviews); len(reviews.Items) != 2 || reviews.Items[0].Reviewer != "" {
		t.Errorf("after the decision the PI sees %+v, want two reviews without names", reviews.Items)
	}

	// Who sees the awards.
	var awards list[core.Award]
	for _, c := range []struct {
		token string
		want  int
	}{{alloc, 2}, {ada, 2}, {eve, 0}, {rev1, 0}, {ts.admin, 2}} {
		if ts.do(t, c.token, "GET", "/api/v1/awards", nil, &awards); len(awards.Items) != c.want {
			t.Errorf("%d awards listed, want %d", len(awards.Items), c.want)
		}
	}
	if ts.do(t, bob, "GET", "/api/v1/awards?project=rocket", nil, &awards); len(awards.Items) != 1 {
		t.Errorf("bob sees %d awards of rocket, want 1", len(awards.Items))
	}
	expect(t, "eve reads the award", ts.do(t, eve, "GET", "/api/v1/awards/"+a1.ID, nil, &p), 404, p, "")

	// An extension.
	later := a1.ValidTo.Add(30 * 24 * time.Hour)
	expect(t, "ada extends", ts.do(t, ada, "POST", "/api/v1/awards/"+a1.ID+"/extend", map[string]any{"valid_to": later}, &p), 403, p, "")
	expect(t, "an extension that shortens", ts.do(t, alloc, "POST", "/api/v1/awards/"+a1.ID+"/extend", map[string]any{"valid_to": a1.ValidFrom.Add(time.Hour)}, &p), 422, p, "valid_to")
	var ext core.Award
	expect(t, "extend", ts.do(t, alloc, "POST", "/api/v1/awards/"+a1.ID+"/extend", map[string]any{"valid_to": later, "hours": map[string]float64{"h100": 70_000}}, &ext), 200, p, "")
	if got, _ := ts.st.GetAward(ctx, a1.ID); !got.ValidTo.Equal(later.Truncate(time.Microsecond)) || got.Hours["h100"] != 70_000 {
		t.Errorf("stored award after the extension: %+v", got)
	}

	// Withdrawal is the PI's, before a decision only.
	expect(t, "withdraw an awarded proposal", ts.do(t, ada, "POST", "/api/v1/proposals/"+p1.ID+"/withdraw", nil, &p), 409, p, "")

	// Every mutation was audited and the chain verifies.
	var v map[string]any
	ts.do(t, ts.admin, "GET", "/api/v1/audit?verify=true", nil, &v)
	if v["verified"] != true {
		t.Errorf("audit verify = %v", v)
	}
	var entries struct{ Items []struct{ Action string } }
	ts.do(t, ts.admin, "GET", "/api/v1/audit?limit=200", nil, &entries)
	seen := map[string]bool{}
	for _, e := range entries.Items {
		seen[e.Action] = true
	}
	for _, want := range []string{"call.create", "call.open", "call.close", "member.add", "proposal.create", "conflict.declare", "review.assign", "review.submit", "award.create", "award.extend"} {
		if !seen[want] {
			t.Errorf("no %s in the audit log", want)
		}
	}
}
