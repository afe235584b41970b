package portal

import (
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/meter"
)

// usageRow is a usage report's row with its figures written out (small
// figures keep three significant digits: a test job's 0.000278 hours).
type usageRow struct {
	core.MeterRow
	Accel, Node, Energy, Carbon, Cost, Public, Private string
}

func usageRowOf(m core.MeterRow) usageRow {
	return usageRow{MeterRow: m, Accel: amount(m.AccelHours), Node: amount(m.NodeHours), Energy: amount(m.EnergyKWh),
		Carbon: amount(m.CarbonKg), Cost: amount(m.Cost), Public: amount(m.Public), Private: amount(m.Private)}
}

// amount writes a figure with thousands separators: whole above 100, two
// decimals above 1, three significant digits below.
func amount(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return dec(0, v)
	case a >= 1:
		return dec(2, v)
	}
	out := dec(min(9, 2-int(math.Floor(math.Log10(a)))), v)
	return strings.TrimSuffix(strings.TrimRight(out, "0"), ".")
}

// usageBar is one row of the usage chart: a group's accelerator-hours as
// a horizontal bar.
type usageBar struct {
	usageRow
	Y, W  float64 // the bar's top and width
	TextX float64 // where its figure goes
}

type usageData struct {
	By, Period string
	Groupings  []string
	Periods    []string
	Rows       []usageRow
	Total      usageRow
	Bars       []usageBar
	// The chart's geometry: width, height, the bars' left edge and the
	// width they may take.
	W, H, Left, Span, LabelX float64
	// PublicShare is the share of the total cost paid from public funds.
	PublicShare float64
}

// Chart geometry: a row per group, labels left of the bars.
const (
	usageChartW    = 720
	usageLabelW    = 200
	usageFigureW   = 110
	usageRowH      = 26
	usageMaxGroups = 200
)

func (p *Portal) usage(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "Usage and co-funding", Nav: "usage", Live: true}
	q := r.URL.Query()
	d := usageData{By: q.Get("by"), Period: q.Get("period"), Groupings: meter.Groupings, Periods: meter.Periods}
	if d.By == "" {
		d.By = "project"
	}
	if d.Period == "" {
		d.Period = "month"
	}
	pg.Data = d
	rep, err := s.c.UsageReport(r.Context(), client.UsageQuery{By: d.By, Period: d.Period})
	if err != nil {
		p.fail(w, r, "usage", pg, err)
		return
	}
	for _, row := range rep.Rows {
		d.Rows = append(d.Rows, usageRowOf(row))
	}
	d.Total = usageRowOf(rep.Total)
	d.PublicShare = ratio(rep.Total.Public, rep.Total.Cost)
	d.chart()
	pg.Data = d
	p.render(w, r, http.StatusOK, "usage", pg)
}

// chart lays out the bars: widths proportional to accelerator-hours, the
// largest group filling the span.
func (d *usageData) chart() {
	rows := d.Rows
	if d.By != "period" {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, func(a, b usageRow) int {
			switch {
			case a.AccelHours > b.AccelHours:
				return -1
			case a.AccelHours < b.AccelHours:
				return 1
			}
			return 0
		})
	}
	if len(rows) > usageMaxGroups {
		rows = rows[:usageMaxGroups]
	}
	var top float64
	for _, row := range rows {
		top = max(top, row.AccelHours)
	}
	d.W, d.Left = usageChartW, usageLabelW
	d.LabelX = d.Left - 6
	d.Span = usageChartW - usageLabelW - usageFigureW
	for i, row := range rows {
		b := usageBar{usageRow: row, Y: float64(i*usageRowH) + 4, W: d.Span * ratio(row.AccelHours, top)}
		if row.AccelHours > 0 && b.W < 1 {
			b.W = 1 // a group that used anything shows
		}
		b.TextX = d.Left + b.W + 6
		d.Bars = append(d.Bars, b)
	}
	d.H = float64(len(rows)*usageRowH) + 8
}
