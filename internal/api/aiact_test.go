package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
)

// TestAIActRoutes: jobs declaring a lineage feed the ledger at
// submission; the plan that makes 1e25 certain raises the systemic-risk
// notification then, once; the report says so; another tenant sees none
// of it.
func TestAIActRoutes(t *testing.T) {
	tn := newTenants(t)
	submit := func(user, project string, tokens float64) {
		t.Helper()
		body := map[string]any{"command": []string{"true"}, "accelerators": 16, "project": project, "walltime": "10h",
			"lineage": map[string]any{"model": "euro-70b", "parameters": 7e10, "tokens": tokens, "precision": "bf16"}}
		if got := tn.do(t, tn.tokens[user], "POST", "/api/v1/jobs", body, nil); got != 201 {
			t.Fatalf("%s submits: %d", user, got)
		}
	}
	type notices = list[aiact.Notification]
	kinds := func(user string) []aiact.NotificationKind {
		var ns notices
		if got := tn.do(t, tn.tokens[user], "GET", "/api/v1/ai-act/notifications", nil, &ns); got != 200 {
			t.Fatalf("notifications as %s: %d", user, got)
		}
		var out []aiact.NotificationKind
		for _, n := range ns.Items {
			out = append(out, n.Kind)
		}
		return out
	}
	submit(userA, "rocket", 1.5e13) // 6 x 7e10 x 1.5e13 = 6.3e24: above 1e23
	if k := kinds(userA); len(k) != 1 || k[0] != aiact.CrossedGPAI {
		t.Fatalf("after the first plan: %v, want gpai", k)
	}
	submit(userA, "rocket", 1.5e13) // 1.3e25 planned: systemic risk, known now
	submit(userA, "rocket", 1e12)   // nothing new
	if k := kinds(userA); len(k) != 2 || k[1] != aiact.CrossedSystemic {
		t.Fatalf("after three plans: %v, want gpai and systemic-risk once each", k)
	}
	if k := kinds(userB); len(k) != 0 {
		t.Errorf("beta sees acme's notifications: %v", k)
	}
	submit(userB, "bproj", 1e9) // beta's own model of the same name

	var ms list[aiact.Model]
	if got := tn.do(t, tn.tokens[userA], "GET", "/api/v1/ai-act/models", nil, &ms); got != 200 || len(ms.Items) != 1 || ms.Items[0].Org != "acme" {
		t.Fatalf("models as acme: %d %+v", got, ms.Items)
	}
	m := ms.Items[0]
	if m.Architecture == nil || m.Architecture.FLOP != 1.3e25 || len(m.Architecture.Jobs) != 3 || m.Projected.FLOP != aiact.Round2(3*16*10*3600*989e12*0.4) {
		t.Errorf("model %+v, architecture %+v", m, m.Architecture)
	}
	var other aiact.Model
	if got := tn.do(t, tn.tokens[userB], "GET", "/api/v1/ai-act/models/euro-70b", nil, &other); got != 200 || other.Org != "beta" {
		t.Errorf("beta's euro-70b: %d %+v", got, other)
	}
	if got := tn.do(t, tn.tokens[userB], "GET", "/api/v1/ai-act/models/nope", nil, nil); got != 404 {
		t.Errorf("unknown model: %d, want 404", got)
	}
	if got := tn.do(t, tn.tokens[userA], "GET", "/api/v1/ai-act/models/euro-70b/report?format=pdf", nil, nil); got != 422 {
		t.Errorf("format=pdf: %d, want 422", got)
	}
	var rep aiact.Report
	if got := tn.do(t, tn.tokens[userA], "GET", "/api/v1/ai-act/models/euro-70b/report?format=json", nil, &rep); got != 200 || len(rep.Notifications) != 2 {
		t.Errorf("json report: %d %+v", got, rep)
	}
	req, _ := http.NewRequest("GET", tn.url+"/api/v1/ai-act/models/euro-70b/report", nil)
	req.Header.Set("Authorization", "Bearer "+tn.tokens[userA])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	md, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"# AI Act report: model euro-70b", "1.3e+25 FLOP", "systemic-risk", "point 2(d)", "point 2(e)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown report lacks %q:\n%s", want, md)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/markdown") {
		t.Errorf("Content-Type %q", ct)
	}
}

// An award is planned compute for the models its project's jobs declare:
// one big enough for 10^25 makes the crossing known at the first job that
// names the model, before any of it is spent.
func TestAIActAwardProjects(t *testing.T) {
	tn := newTenants(t)
	ctx := context.Background()
	now := time.Now().UTC()
	a := core.Award{ID: "EHPC-AIF-2026LS01-1001", Project: "rocket", Hours: map[string]float64{"h100": 8e6},
		ValidFrom: now.Add(-time.Hour), ValidTo: now.AddDate(1, 0, 0), CreatedAt: now}
	if err := tn.st.CreateAward(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := tn.d.AwardsChanged(ctx); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"command": []string{"true"}, "accelerators": 1, "project": "rocket", "walltime": "1h",
		"lineage": map[string]any{"model": "euro-400b"}}
	if got := tn.do(t, tn.tokens[userA], "POST", "/api/v1/jobs", body, nil); got != 201 {
		t.Fatalf("submit: %d", got)
	}
	var ns list[aiact.Notification]
	if got := tn.do(t, tn.tokens[userA], "GET", "/api/v1/ai-act/notifications", nil, &ns); got != 200 {
		t.Fatalf("notifications: %d", got)
	}
	systemic := 0
	for _, n := range ns.Items {
		if n.Kind == aiact.CrossedSystemic {
			systemic++
			if !n.Projected || !strings.Contains(n.Message, "award "+a.ID) {
				t.Errorf("notification %+v, want a projected one naming the award", n)
			}
		}
	}
	if systemic != 1 {
		t.Fatalf("%d systemic-risk notifications, want 1: %+v", systemic, ns.Items)
	}
}
