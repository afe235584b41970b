package aiact_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
)

// TestVectors are the calibration examples of the Commission's guidelines
// (paras 135-144), reported to two significant figures.
func TestVectors(t *testing.T) {
	cases := map[string]struct {
		flop float64
		want float64
	}{
		"Model H: 370,000 H100-hours at 989 TFLOP/s, 50%": {aiact.HardwareFLOP(1, 370_000, 989, 0.5), 6.6e23},
		"Model B: 200,000 A100-hours at 300 TFLOP/s, 50%": {aiact.HardwareFLOP(1, 200_000, 300, 0.5), 1.1e23},
		"Model A: 6 x 3.8e9 x 3.3e12":                     {aiact.ArchitectureFLOP(3.8e9, 3.3e12), 7.5e22},
		"same hours spread over 1,000 chips":              {aiact.HardwareFLOP(1000, 370, 989, 0.5), 6.6e23},
	}
	for name, c := range cases {
		if got := aiact.Round2(c.flop); got != c.want {
			t.Errorf("%s: %g (exact %g), want %g", name, got, c.flop, c.want)
		}
	}
	if got := aiact.Format(6.586e23); got != "6.6e+23 FLOP" {
		t.Errorf("Format = %q", got)
	}
}

var settings = aiact.Settings{Peaks: []aiact.Peak{
	{Family: "H100", Name: "NVIDIA H100", BF16TFLOPS: 989, FP8TFLOPS: 1979, TDPW: 700},
	{Family: "A100", Name: "NVIDIA A100", BF16TFLOPS: 300, TDPW: 400},
	{Family: "GH200", Name: "NVIDIA GH200", BF16TFLOPS: 989, TDPW: 900},
	{Family: "H200", Name: "NVIDIA H200", BF16TFLOPS: 989, TDPW: 700},
}}

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func job(id core.JobID, model string, accels float64, hours float64, at time.Time) aiact.Job {
	return aiact.Job{ID: id, Org: "acme", Project: "rocket", Lineage: core.ModelLineage{Model: model},
		At: at, Accelerators: accels, AccelModel: "NVIDIA H100", Duration: time.Duration(hours * float64(time.Hour))}
}

func TestContribute(t *testing.T) {
	cases := map[string]struct {
		kind        aiact.Kind
		j           aiact.Job
		wantFLOP    float64 // rounded
		wantPeak    float64
		wantAssumed bool
	}{
		"H100 at the default 40%": {aiact.Actual, job(1, "m", 8, 10, t0), aiact.Round2(8 * 10 * 3600 * 989e12 * 0.4), 989, false},
		"fp8 where the data has it": {aiact.Actual, func() aiact.Job {
			j := job(2, "m", 8, 10, t0)
			j.Lineage.Precision = "FP8"
			return j
		}(), aiact.Round2(8 * 10 * 3600 * 1979e12 * 0.4), 1979, false},
		"fp8 on an A100 falls back to BF16": {aiact.Actual, func() aiact.Job {
			j := job(3, "m", 8, 10, t0)
			j.Lineage.Precision, j.AccelModel = "fp8", "NVIDIA A100"
			return j
		}(), aiact.Round2(8 * 10 * 3600 * 300e12 * 0.4), 300, true},
		"a plan naming no model assumes an H100": {aiact.Planned, func() aiact.Job {
			j := job(4, "m", 8, 10, t0)
			j.AccelModel = ""
			return j
		}(), aiact.Round2(8 * 10 * 3600 * 989e12 * 0.4), 989, true},
		"GH200 is not taken for H200": {aiact.Actual, func() aiact.Job {
			j := job(5, "m", 1, 1, t0)
			j.AccelModel = "NVIDIA GH200 480GB"
			return j
		}(), aiact.Round2(3600 * 989e12 * 0.4), 989, false},
	}
	for name, c := range cases {
		got := aiact.Contribute(settings, c.kind, c.j)
		if aiact.Round2(got.HardwareFLOP) != c.wantFLOP || got.PeakTFLOPS != c.wantPeak {
			t.Errorf("%s: %g FLOP at %g TFLOP/s, want %g at %g", name, got.HardwareFLOP, got.PeakTFLOPS, c.wantFLOP, c.wantPeak)
		}
		if got.Utilisation != 0.4 {
			t.Errorf("%s: utilisation %g, want the default 0.4 recorded", name, got.Utilisation)
		}
		if assumed := len(got.Assumptions) > 1; assumed != c.wantAssumed {
			t.Errorf("%s: assumptions %q", name, got.Assumptions)
		}
	}
	if c := aiact.Contribute(aiact.Settings{Peaks: settings.Peaks, Utilisation: 0.5}, aiact.Actual, job(9, "m", 1, 370_000, t0)); aiact.Round2(c.HardwareFLOP) != 6.6e23 {
		t.Errorf("configured utilisation 0.5: %g, want 6.6e23", c.HardwareFLOP)
	}
}

// TestCrossingSystemic: three jobs of 4,096 H100s for 30 days each; the
// third's submission makes 1e25 certain, and only it raises the
// notification, dated then; the runs that follow raise nothing.
func TestCrossingSystemic(t *testing.T) {
	var cs []aiact.Contribution
	sub := func(id core.JobID, at time.Time) {
		cs = append(cs, aiact.Contribute(settings, aiact.Planned, job(id, "big", 4096, 720, at)))
	}
	ran := func(id core.JobID, at time.Time) {
		j := job(id, "big", 4096, 720, at)
		j.Final = true
		cs = append(cs, aiact.Contribute(settings, aiact.Actual, j))
	}
	sub(1, t0)
	ran(1, t0.Add(720*time.Hour))
	sub(2, t0.Add(721*time.Hour))
	sub(3, t0.Add(722*time.Hour)) // projected 1.3e25
	ran(2, t0.Add(1441*time.Hour))
	ran(3, t0.Add(1442*time.Hour))
	l := aiact.Evaluate(cs)
	var systemic, gpai []aiact.Notification
	for _, n := range l.Notifications {
		switch n.Kind {
		case aiact.CrossedSystemic:
			systemic = append(systemic, n)
		case aiact.CrossedGPAI:
			gpai = append(gpai, n)
		}
	}
	if len(systemic) != 1 || len(gpai) != 1 || len(l.Notifications) != 2 {
		t.Fatalf("notifications %+v, want one gpai and one systemic-risk", l.Notifications)
	}
	n := systemic[0]
	if n.Job != 3 || !n.At.Equal(t0.Add(722*time.Hour)) || !n.Projected || n.FLOP != 1.3e25 || n.Method != aiact.Hardware {
		t.Errorf("systemic notification %+v, want job 3 at its submission, projected, 1.3e25 by the hardware method", n)
	}
	if g := gpai[0]; g.Job != 1 || !g.At.Equal(t0) || !g.Projected {
		t.Errorf("gpai notification %+v, want job 1 at its submission", g)
	}
	m := l.Models[0]
	if m.Hardware.FLOP != 1.3e25 || len(m.Hardware.Jobs) != 3 || m.AcceleratorHours != 3*4096*720 {
		t.Errorf("model %+v", m)
	}
	// The same contributions, in any order, give the same notifications.
	rev := make([]aiact.Contribution, len(cs))
	for i, c := range cs {
		rev[len(cs)-1-i] = c
	}
	if again := aiact.Evaluate(rev); len(again.Notifications) != 2 || again.Notifications[1] != n {
		t.Errorf("replayed in reverse: %+v", again.Notifications)
	}
}

// TestOneThird: a fine-tune above one third of its base model's compute is
// a new model; below it is not; an unknown base uses the fallbacks.
func TestOneThird(t *testing.T) {
	base := job(1, "base-7b", 1024, 240, t0) // 3.5e23 at 40%: a third is 1.2e23
	base.Final = true
	ft := func(id core.JobID, baseModel string, hours float64, decl core.ModelLineage) aiact.Contribution {
		j := job(id, "ft-"+baseModel, 1024, hours, t0.Add(time.Duration(id)*time.Hour))
		decl.Model, decl.BaseModel, decl.Purpose = j.Lineage.Model, baseModel, core.PurposeFinetune
		j.Lineage = decl
		return aiact.Contribute(settings, aiact.Planned, j)
	}
	baseC := aiact.Contribute(settings, aiact.Actual, base)
	cases := map[string]struct {
		cs       []aiact.Contribution
		want     bool
		wantBase float64
	}{
		"above a third of a known base":               {[]aiact.Contribution{baseC, ft(2, "base-7b", 100, core.ModelLineage{})}, true, 3.5e23},
		"below a third of a known base":               {[]aiact.Contribution{baseC, ft(2, "base-7b", 50, core.ModelLineage{})}, false, 3.5e23},
		"unknown base: 1/3 x 1e23":                    {[]aiact.Contribution{ft(2, "llama", 30, core.ModelLineage{})}, true, 1e23},
		"unknown base with systemic risk: 1/3 x 1e25": {[]aiact.Contribution{ft(2, "llama", 30, core.ModelLineage{BaseSystemicRisk: true})}, false, 1e25},
		"declared base compute":                       {[]aiact.Contribution{ft(2, "llama", 30, core.ModelLineage{BaseFLOP: 1e24})}, false, 1e24},
	}
	for name, c := range cases {
		l := aiact.Evaluate(c.cs)
		var m aiact.Model
		for _, x := range l.Models {
			if x.ID != "base-7b" {
				m = x
			}
		}
		var flagged int
		for _, n := range l.Notifications {
			if n.Kind == aiact.NewModel {
				flagged++
			}
		}
		if m.NewModel != c.want || flagged != map[bool]int{true: 1}[c.want] || aiact.Round2(m.BaseFLOP) != c.wantBase {
			t.Errorf("%s: new model %v (%d notifications), base %g (%s); want %v, base %g", name, m.NewModel, flagged, m.BaseFLOP, m.BaseSource, c.want, c.wantBase)
		}
	}
}

func TestArchitectureMethod(t *testing.T) {
	j := job(1, "a", 8, 1, t0)
	j.Lineage.Parameters, j.Lineage.Tokens = 3.8e9, 3.3e12
	l := aiact.Evaluate([]aiact.Contribution{aiact.Contribute(settings, aiact.Planned, j)})
	m := l.Models[0]
	if m.Architecture == nil || m.Architecture.FLOP != 7.5e22 || len(m.Architecture.Jobs) != 1 {
		t.Fatalf("architecture estimate %+v, want 7.5e22 over job 1", m.Architecture)
	}
	if len(l.Notifications) != 0 {
		t.Errorf("7.5e22 is below 1e23: %+v", l.Notifications)
	}
	j.Lineage.Tokens = 5e12 // 1.1e23 planned by the architecture method
	l = aiact.Evaluate([]aiact.Contribution{aiact.Contribute(settings, aiact.Planned, j)})
	if len(l.Notifications) != 1 || l.Notifications[0].Method != aiact.Architecture || l.Notifications[0].FLOP != 1.1e23 {
		t.Errorf("notifications %+v, want gpai by the architecture method at 1.1e23", l.Notifications)
	}
}

// An award big enough to take a model past 10^25 makes the crossing known
// when it is recorded (projected), once; the jobs that spend it raise
// nothing more; an extension is a new plan, counted instead of the old.
func TestAwardPlanProjects(t *testing.T) {
	s := settings
	at0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := core.ModelLineage{Model: "big-llm", Purpose: core.PurposePretraining}
	// 10^25 FLOP at 989 TFLOP/s and 40% is about 7.0 million H100-hours.
	a := core.Award{ID: "EHPC-AIF-2026LS01-1001", Project: "p", Hours: map[string]float64{"h100": 5e6}, ValidFrom: at0, ValidTo: at0.AddDate(1, 0, 0)}
	small := aiact.AwardContribution(s, "o", a, l, at0)
	ext := a
	ext.Hours = map[string]float64{"h100": 8e6}
	big := aiact.AwardContribution(s, "o", ext, l, at0.Add(24*time.Hour))
	if small.Attempt == big.Attempt {
		t.Fatal("an extension must be a new version of the award's plan")
	}
	if got := aiact.Evaluate([]aiact.Contribution{small}).Notifications; len(got) != 1 || got[0].Kind != aiact.CrossedGPAI {
		t.Fatalf("5M H100-hours: %+v, want the GPAI crossing only", got)
	}
	job := aiact.Contribute(s, aiact.Actual, aiact.Job{ID: 7, Org: "o", Project: "p", Lineage: l, At: at0.Add(48 * time.Hour), Final: true,
		Accelerators: 1000, AccelModel: "h100", Duration: 1000 * time.Hour})
	led := aiact.Evaluate([]aiact.Contribution{small, big, job})
	var sys []aiact.Notification
	for _, n := range led.Notifications {
		if n.Kind == aiact.CrossedSystemic {
			sys = append(sys, n)
		}
	}
	if len(sys) != 1 || !sys[0].At.Equal(big.At) || !sys[0].Projected || !strings.Contains(sys[0].Message, "award "+a.ID) {
		t.Fatalf("systemic notifications %+v, want one, projected, dated at the extension", sys)
	}
	m := led.Models[0]
	if m.Projected.Exact < 1e25 || m.Projected.Exact > 1.2e25 {
		t.Fatalf("projection %.3g, want the extended award's 8M H100-hours (about 1.1e25), not both awards", m.Projected.Exact)
	}
}
