package award

import (
	"math"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestNormalisedHours(t *testing.T) {
	r := Rates{By: map[string]float64{"h100": 1, "a100": 1 / 2.3}}
	a := core.Award{ID: "EHPC-AIF-2026PG01-1124", Hours: map[string]float64{"h100": 50000, "a100": 23000}}
	if u := Unit(a); u != "h100" {
		t.Fatalf("unit %s, want h100", u)
	}
	if got := Total(a, r); math.Abs(got-60000) > 1e-6 {
		t.Fatalf("total %.3f H100-hours, want 60000 (23000 A100-hours = 10000 H100-hours)", got)
	}
	if got := Charge(r, "a100", "h100", 23); math.Abs(got-10) > 1e-9 {
		t.Fatalf("23 A100-hours cost %.3f H100-hours, want 10", got)
	}
	if got := Charge(r, "mi250x", "h100", 5); got != 5 {
		t.Fatalf("a model without a rate is worth 1: got %.3f", got)
	}
}

func TestEvaluate(t *testing.T) {
	r := Rates{}
	a := core.Award{ID: "EHPC-AIF-2026PG01-1124", Hours: map[string]float64{"h100": 50000}, ValidFrom: t0, ValidTo: t0.Add(90 * 24 * time.Hour)}
	od := a
	od.Overdraft = 0.1
	small := a
	small.ID, small.Hours = "EHPC-AIF-2026PG01-1125", map[string]float64{"h100": 0.003}
	half := a
	half.ID, half.Hours = "EHPC-AIF-2026PG01-1126", map[string]float64{"h100": 12.5}
	for _, c := range []struct {
		name                            string
		a                               core.Award
		used                            float64
		at                              time.Time
		warn, exhausted, expired, block bool
		reason                          string
	}{
		{"fresh", a, 0, t0, false, false, false, false, ""},
		{"79%", a, 39500, t0, false, false, false, false, ""},
		{"80%", a, 40000, t0, true, false, false, false, ""},
		{"spent", a, 50000, t0, true, true, false, true, "award EHPC-AIF-2026PG01-1124 exhausted (50,000 of 50,000 H100-hours)"},
		{"within overdraft", od, 54000, t0, true, false, false, false, ""},
		{"past overdraft", od, 55000, t0, true, true, false, true, "award EHPC-AIF-2026PG01-1124 exhausted (55,000 of 50,000 H100-hours)"},
		{"expired", a, 10, t0.Add(91 * 24 * time.Hour), false, false, true, true, "award EHPC-AIF-2026PG01-1124 expired on 2027-03-01 00:00 UTC"},
		{"not yet", a, 0, t0.Add(-time.Hour), false, false, false, true, "award EHPC-AIF-2026PG01-1124 is valid from 2026-12-01 00:00 UTC"},
		{"small award spent", small, 0.0032583, t0, true, true, false, true, "award EHPC-AIF-2026PG01-1125 exhausted (0.00326 of 0.003 H100-hours)"},
		{"half-hours", half, 12.54, t0, true, true, false, true, "award EHPC-AIF-2026PG01-1126 exhausted (12.5 of 12.5 H100-hours)"},
	} {
		s := Evaluate(c.a, r, c.used, c.at)
		if s.Warn != c.warn || s.Exhausted != c.exhausted || s.Expired != c.expired || s.Blocks() != c.block {
			t.Errorf("%s: %+v", c.name, s)
		}
		if got := s.Reason(c.a); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
		}
	}
}

func TestCurrent(t *testing.T) {
	day := 24 * time.Hour
	old := core.Award{ID: "old", Project: "p", ValidFrom: t0.Add(-60 * day), ValidTo: t0.Add(-30 * day)}
	long := core.Award{ID: "long", Project: "p", ValidFrom: t0.Add(-day), ValidTo: t0.Add(300 * day)}
	short := core.Award{ID: "short", Project: "p", ValidFrom: t0.Add(-day), ValidTo: t0.Add(10 * day)}
	next := core.Award{ID: "next", Project: "p", ValidFrom: t0.Add(5 * day), ValidTo: t0.Add(90 * day)}
	other := core.Award{ID: "other", Project: "q", ValidFrom: t0.Add(-day), ValidTo: t0.Add(day)}
	for _, c := range []struct {
		name   string
		awards []core.Award
		want   string
	}{
		{"none", []core.Award{other}, ""},
		{"the one ending first", []core.Award{old, long, short, next, other}, "short"},
		{"only an ended one", []core.Award{old, other}, "old"},
		{"ended and future: the ended one says why", []core.Award{old, next}, "old"},
		{"only a future one", []core.Award{next}, "next"},
	} {
		got, ok := Current(c.awards, "p", t0)
		if c.want == "" && ok || c.want != "" && got.ID != c.want {
			t.Errorf("%s: %q (%v), want %q", c.name, got.ID, ok, c.want)
		}
	}
}

func TestRatesByCanonicalName(t *testing.T) {
	canon := map[string]string{"h100": "NVIDIA H100", "nvidia-h100": "NVIDIA H100", "a100": "NVIDIA A100"}
	r := Rates{By: map[string]float64{"NVIDIA H100": 1, "NVIDIA A100": 0.5}, Canon: func(m string) string {
		if c, ok := canon[m]; ok {
			return c
		}
		return m
	}}
	if got := Charge(r, "a100", "nvidia-h100", 10); got != 5 {
		t.Fatalf("10 A100-hours in H100-hours by their short names: %v, want 5", got)
	}
}
