package aiact_test

import (
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
)

func TestReportMarkdown(t *testing.T) {
	j := job(1, "ft", 1024, 100, t0)
	j.Final = true
	j.Lineage = core.ModelLineage{Model: "ft", BaseModel: "llama", Purpose: core.PurposeFinetune, Parameters: 7e9}
	l := aiact.Evaluate([]aiact.Contribution{aiact.Contribute(settings, aiact.Actual, j)})
	md := aiact.NewReport(l.Models[0], l.Notifications).Markdown()
	for _, want := range []string{
		"# AI Act report: model ft",
		"Parameters: 7e+09.",
		"| used | hardware | 1.5e+23 FLOP | 1 |",
		"NVIDIA H100; 102400 accelerator-hours; training time 100.0 hours",
		"Estimated 71680 kWh", // 102,400 h x 700 W
		"the modifier is the provider of a new model",
		"- gpai: 1.5e+23 FLOP, hardware (used)",
		"- new-model: 1.5e+23 FLOP",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if other := aiact.NewReport(aiact.Model{ID: "ft", Org: "beta"}, l.Notifications); len(other.Notifications) != 0 {
		t.Errorf("another organisation's ft got %+v", other.Notifications)
	}
}
