package aiact

import (
	"fmt"
	"strings"
	"time"
)

// Report is what the platform knows of one model for its Annex XI
// technical documentation: the model's ledger and its notifications.
type Report struct {
	Model         Model          `json:"model"`
	Notifications []Notification `json:"notifications"`
	// Sources name the texts the figures follow.
	Sources []string `json:"sources"`
}

// Sources are the texts the ledger follows (README.md, "Facts").
var Sources = []string{
	"Regulation (EU) 2024/1689 (AI Act), Arts 51-53 and Annex XI: https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
	"Commission Guidelines on the scope of obligations for providers of general-purpose AI models, C(2025) 5045, 18 Jul 2025 (paras 17, 30-32, 61-64; Annex A paras 118-144)",
}

// NewReport gathers m's report from the ledger's notifications.
func NewReport(m Model, all []Notification) Report {
	r := Report{Model: m, Notifications: []Notification{}, Sources: Sources}
	for _, n := range all {
		if n.Org == m.Org && n.Model == m.ID {
			r.Notifications = append(r.Notifications, n)
		}
	}
	return r
}

// Markdown writes the report as a document a provider can file with its
// technical documentation: the Annex XI items the platform knows.
func (r Report) Markdown() string {
	m := r.Model
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# AI Act report: model %s", m.ID)
	p("")
	p("Organisation %s; projects %s. Purpose: %s.", m.Org, strings.Join(m.Projects, ", "), m.Purpose)
	if m.BaseModel != "" {
		p("Base model: %s.", m.BaseModel)
	}
	p("")
	p("## Annex XI, section 1, point 1(d): architecture and number of parameters")
	p("")
	if m.Parameters > 0 {
		p("Parameters: %.2g.", m.Parameters)
	} else {
		p("Parameters: not declared.")
	}
	p("")
	p("## Annex XI, section 1, point 2(c): number of data points")
	p("")
	if m.Tokens > 0 {
		p("Training tokens declared by the jobs: %.2g.", m.Tokens)
	} else {
		p("Training tokens: not declared.")
	}
	p("")
	p("## Annex XI, section 1, point 2(d): computational resources and training time")
	p("")
	p("| estimate | method | FLOP (2 significant figures) | jobs |")
	p("|---|---|---|---|")
	p("| used | %s | %s | %d |", m.Hardware.Method, m.Hardware.Text, len(m.Hardware.Jobs))
	p("| projected (used + planned) | %s | %s | %d |", m.Projected.Method, m.Projected.Text, len(m.Projected.Jobs))
	if a := m.Architecture; a != nil {
		p("| declared | %s (6 x P x D) | %s | %d |", a.Method, a.Text, len(a.Jobs))
	}
	p("")
	p("Hardware: %s; %.0f accelerator-hours; training time %.1f hours (sum of runs' wall time); precision %s.",
		orNone(strings.Join(m.Accelerators, ", ")), m.AcceleratorHours, m.TrainingHours, orNone(strings.Join(m.Precisions, ", ")))
	if len(m.Hardware.Assumptions) > 0 {
		p("")
		p("Assumptions:")
		for _, a := range m.Hardware.Assumptions {
			p("- %s", a)
		}
	}
	p("")
	p("All operations count alike whatever their precision; the estimate may be off by up to 30%% (guidelines paras 123, 125).")
	p("")
	p("## Annex XI, section 1, point 2(e): energy")
	p("")
	p("Estimated %.0f kWh: accelerator-hours x board power (TDP), the sites' PUE not included.", m.EnergyKWh)
	if m.BaseModel != "" && m.BaseFLOP > 0 {
		p("")
		p("## Modification (guidelines paras 61-64)")
		p("")
		verdict := "not more than one third: the modifier is not the provider of a new model"
		if m.NewModel {
			verdict = "more than one third: the modifier is the provider of a new model"
		}
		p("Base model %s: %s (%s). This model's compute is %s.", m.BaseModel, Format(m.BaseFLOP), m.BaseSource, verdict)
	}
	p("")
	p("## Notifications (Art. 52(1): within two weeks of when the crossing became known)")
	p("")
	if len(r.Notifications) == 0 {
		p("None.")
	}
	for _, n := range r.Notifications {
		kind := "used"
		if n.Projected {
			kind = "projected"
		}
		p("- %s: %s, %s (%s), known %s at job %d", n.Kind, Format(n.FLOP), n.Method, kind, n.At.UTC().Format(time.RFC3339), n.Job)
	}
	p("")
	p("Sources:")
	for _, s := range r.Sources {
		p("- %s", s)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}
