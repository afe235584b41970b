package portal

import (
	"net/http"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
)

// The AI Act view: each model of the ledger with its training compute used
// and projected against the threshold it nears (10^23 FLOP, the indicative
// criterion of a general-purpose model; 10^25, systemic risk), the dates a
// crossing became known, the notifications, and a model's report.

// threshold is one of the AI Act's compute thresholds.
type threshold struct {
	Name string
	FLOP float64
}

// thresholds are aiact's, in increasing order.
var thresholds = []threshold{
	{"general-purpose AI (indicative)", aiact.GPAIThreshold},
	{"systemic risk (Art. 51(2))", aiact.SystemicThreshold},
}

// crossing is a notification of one model, for its row.
type crossing struct {
	Kind      aiact.NotificationKind
	At        time.Time
	Projected bool
}

// aiModel is a model with its bar against the threshold it nears.
type aiModel struct {
	aiact.Model
	Threshold threshold
	// UsedShare and ProjectedShare are the compute over the threshold;
	// UsedW and ProjectedW the bars' widths (at most the span); Over says
	// the projection passes the threshold.
	UsedShare, ProjectedShare float64
	UsedW, ProjectedW         float64
	Over                      bool
	Y                         float64
	Crossings                 []crossing
	// The model's accelerator-hours and energy, written out.
	AccelText, EnergyText string
}

type aiactData struct {
	Models        []aiModel
	Notifications []aiact.Notification
	Thresholds    []threshold
	// The chart's geometry.
	W, H, Left, Span, LabelX, End float64
	// Report is one model's report (the page /ai-act/{id}).
	Report *aiReport
}

const (
	aiChartW  = 720
	aiLabelW  = 180
	aiRowH    = 30
	aiFigureW = 60
)

// nearest is the threshold a model nears: the lowest its projection has
// not passed, else the highest.
func nearest(projected float64) threshold {
	for _, t := range thresholds {
		if projected < t.FLOP {
			return t
		}
	}
	return thresholds[len(thresholds)-1]
}

func (p *Portal) aiActView(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "AI Act ledger", Nav: "ai-act", Live: true}
	d := aiactData{Thresholds: thresholds, W: aiChartW, Left: aiLabelW, LabelX: aiLabelW - 6, Span: aiChartW - aiLabelW - aiFigureW}
	d.End = d.Left + d.Span
	pg.Data = d
	models, err := s.c.AIActModels(r.Context())
	if err != nil {
		p.fail(w, r, "aiact", pg, err)
		return
	}
	d.Notifications, _ = s.c.AIActNotifications(r.Context())
	for i, m := range models {
		am := aiModel{Model: m, Threshold: nearest(m.Projected.FLOP), Y: float64(i*aiRowH) + 4,
			AccelText: amount(m.AcceleratorHours), EnergyText: amount(m.EnergyKWh)}
		am.UsedShare = m.Hardware.FLOP / am.Threshold.FLOP
		am.ProjectedShare = m.Projected.FLOP / am.Threshold.FLOP
		am.UsedW = d.Span * min(1, am.UsedShare)
		am.ProjectedW = d.Span * min(1, am.ProjectedShare)
		am.Over = am.ProjectedShare >= 1
		for _, n := range d.Notifications {
			if n.Org == m.Org && n.Model == m.ID && n.Kind != aiact.NewModel {
				am.Crossings = append(am.Crossings, crossing{Kind: n.Kind, At: n.At, Projected: n.Projected})
			}
		}
		d.Models = append(d.Models, am)
	}
	d.H = float64(len(d.Models)*aiRowH) + 8
	pg.Data = d
	p.render(w, r, http.StatusOK, "aiact", pg)
}

// aiReport is a model's report with its rows.
type aiReport struct {
	aiact.Report
	Threshold threshold
	Share     float64
	// The model's hours and energy, written out.
	AccelText, TrainText, EnergyText string
}

func (p *Portal) aiActReport(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	id := r.PathValue("id")
	pg := page{Title: "AI Act report: " + id, Nav: "ai-act"}
	rep, err := s.c.AIActReport(r.Context(), id)
	if err != nil {
		pg.Data = aiactData{Report: &aiReport{Report: aiact.Report{Model: aiact.Model{ID: id}}}}
		p.fail(w, r, "aiact", pg, err)
		return
	}
	d := aiReport{Report: *rep, Threshold: nearest(rep.Model.Projected.FLOP)}
	d.Share = rep.Model.Projected.FLOP / d.Threshold.FLOP
	d.AccelText, d.TrainText, d.EnergyText = amount(rep.Model.AcceleratorHours), amount(rep.Model.TrainingHours), amount(rep.Model.EnergyKWh)
	slices.SortStableFunc(d.Notifications, func(a, b aiact.Notification) int { return a.At.Compare(b.At) })
	pg.Data = aiactData{Report: &d}
	p.render(w, r, http.StatusOK, "aiact", pg)
}
