package sim

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// palette gives each policy (or series) a colour, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"}

// Report writes report.html: a self-contained page (inline CSS and SVG, no
// scripts, no network) with the plots an operator looks at first.
func Report(w io.Writer, s *Summary) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gigafactory digital twin</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}svg{display:block;margin:1em 0}
.note{color:#666}</style></head><body>`)
	fmt.Fprintf(&b, "<h1>Digital twin: %s mode</h1><p>Trace <code>%s</code> on <code>%s</code> (%d accelerators); %d jobs per policy; %d skipped rows.</p>",
		html.EscapeString(s.Mode), html.EscapeString(s.Trace), html.EscapeString(s.Network), s.Capacity, s.Jobs, s.SkippedRows)
	if len(s.Placement) > 0 {
		placementReport(&b, s)
	}
	if len(s.Policies) > 0 {
		replayReport(&b, s)
	}
	b.WriteString("<h2>Assumptions</h2><ul>")
	for _, a := range s.Assumptions {
		fmt.Fprintf(&b, "<li>%s</li>", html.EscapeString(a))
	}
	b.WriteString("</ul></body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func placementReport(b *strings.Builder, s *Summary) {
	b.WriteString("<h2>Allocation ratio by policy</h2><table><tr><th>policy</th><th>mean</th>")
	for _, sd := range s.Placement[0].Seeds {
		fmt.Fprintf(b, "<th>seed %d</th>", sd.Seed)
	}
	b.WriteString("</tr>")
	var bars []bar
	for i, r := range s.Placement {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%.2f%%</td>", html.EscapeString(r.Policy), 100*r.AllocationRatio)
		for _, sd := range r.Seeds {
			fmt.Fprintf(b, "<td>%.2f%%</td>", 100*sd.AllocationRatio)
		}
		b.WriteString("</tr>")
		bars = append(bars, bar{label: r.Policy, value: 100 * r.AllocationRatio, color: palette[i%len(palette)]})
	}
	b.WriteString("</table>")
	lo := 100.0
	for _, x := range bars {
		lo = min(lo, x.value)
	}
	barChart(b, "Mean allocation ratio (%) at the demand limit", bars, math.Floor(lo-2), 100)
}

func replayReport(b *strings.Builder, s *Summary) {
	b.WriteString("<h2>Policies</h2><table><tr><th>policy</th><th>jobs</th><th>completed</th><th>utilisation</th><th>offered load</th><th>wait mean</th><th>wait p50</th><th>wait p90</th><th>wait p99</th><th>JCT mean</th><th>JCT p50</th><th>JCT p90</th><th>JCT p99</th><th>bounded slowdown</th><th>Jain (tenants)</th><th>preemptions</th><th>fragmentation</th></tr>")
	for _, p := range s.Policies {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%.1f%%</td><td>%.1f%%</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.2f</td><td>%.3f</td><td>%d</td><td>%.1f%%</td></tr>",
			html.EscapeString(p.Policy), p.Jobs, p.Completed, 100*p.Utilisation, 100*p.OfferedLoad,
			human(p.Wait.Mean), human(p.Wait.P50), human(p.Wait.P90), human(p.Wait.P99),
			human(p.JCT.Mean), human(p.JCT.P50), human(p.JCT.P90), human(p.JCT.P99), p.BoundedSlowdown, p.JainTenants, p.Preemptions, 100*p.Fragmentation)
	}
	b.WriteString("</table>")
	for _, p := range s.Policies {
		if p.EngineNote != "" {
			fmt.Fprintf(b, "<p class=note>%s: %s</p>", html.EscapeString(p.Policy), html.EscapeString(p.EngineNote))
		}
	}
	var util, queue []line
	for i, p := range s.Policies {
		u := line{label: p.Policy, color: palette[i%len(palette)]}
		q := u
		for _, r := range p.series {
			if r.Site == "" {
				u.xs = append(u.xs, r.T.Hours()/24)
				u.ys = append(u.ys, 100*r.Utilisation)
				q.xs = append(q.xs, r.T.Hours()/24)
				q.ys = append(q.ys, float64(r.Queued))
			}
		}
		util, queue = append(util, u), append(queue, q)
	}
	lineChart(b, "Network utilisation (%) over simulated days", util, 100)
	lineChart(b, "Jobs waiting over simulated days", queue, 0)

	// Waiting time by organisation class, p50 and p90, per policy.
	classes := []string{}
	for c := range s.Policies[0].ByClass {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	b.WriteString("<h2>Waiting time by organisation class</h2><table><tr><th>class</th>")
	for _, p := range s.Policies {
		fmt.Fprintf(b, "<th>%s p50</th><th>%s p90</th><th>%s fair-share dev.</th>", p.Policy, p.Policy, p.Policy)
	}
	b.WriteString("</tr>")
	var bars []bar
	for _, c := range classes {
		fmt.Fprintf(b, "<tr><td>%s</td>", html.EscapeString(c))
		for i, p := range s.Policies {
			cr := p.ByClass[c]
			if cr == nil {
				b.WriteString("<td></td><td></td><td></td>")
				continue
			}
			fmt.Fprintf(b, "<td>%s</td><td>%s</td><td>%+.1f pp</td>", human(cr.Wait.P50), human(cr.Wait.P90), 100*cr.FairShareDeviation)
			bars = append(bars, bar{label: c + " · " + p.Policy, value: cr.Wait.Mean / 3600, color: palette[i%len(palette)]})
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	barChart(b, "Mean wait (hours) by class and policy", bars, 0, 0)

	// Utilisation per site for the first policy.
	p := s.Policies[0]
	sites := make([]string, 0, len(p.UtilisationBySite))
	for id := range p.UtilisationBySite {
		sites = append(sites, id)
	}
	slices.Sort(sites)
	bars = bars[:0]
	for _, id := range sites {
		bars = append(bars, bar{label: id, value: 100 * p.UtilisationBySite[id], color: palette[0]})
	}
	barChart(b, "Utilisation (%) per site, policy "+p.Policy, bars, 0, 100)
}

type bar struct {
	label string
	value float64
	color string
}

// barChart draws horizontal bars from lo to hi (hi 0 = the largest value).
func barChart(b *strings.Builder, title string, bars []bar, lo, hi float64) {
	if len(bars) == 0 {
		return
	}
	if hi <= lo {
		for _, x := range bars {
			hi = max(hi, x.value)
		}
		if hi <= lo {
			hi = lo + 1
		}
	}
	const left, width, rowH = 260, 560, 18
	h := len(bars)*rowH + 40
	fmt.Fprintf(b, `<h3>%s</h3><svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`,
		html.EscapeString(title), left+width+80, h, html.EscapeString(title))
	for i, x := range bars {
		y := 10 + i*rowH
		v := math.Max(0, math.Min(1, (x.value-lo)/(hi-lo)))
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, left-6, y+12, html.EscapeString(x.label))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, left, y+2, v*width, rowH-4, x.color)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11">%.4g</text>`, left+v*width+4, y+12, x.value)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" fill="#666">%.4g</text><text x="%d" y="%d" font-size="10" fill="#666" text-anchor="end">%.4g</text>`,
		left, h-6, lo, left+width, h-6, hi)
	b.WriteString("</svg>")
}

type line struct {
	label  string
	color  string
	xs, ys []float64
}

// lineChart draws lines over a shared x axis; ymax 0 = the data's maximum.
func lineChart(b *strings.Builder, title string, lines []line, ymax float64) {
	var xmax float64
	for _, l := range lines {
		for i := range l.xs {
			xmax = max(xmax, l.xs[i])
			if ymax == 0 || ymax < l.ys[i] {
				ymax = max(ymax, l.ys[i])
			}
		}
	}
	if xmax == 0 || ymax == 0 {
		return
	}
	const x0, y0, w, h = 60, 20, 760, 240
	fmt.Fprintf(b, `<h3>%s</h3><svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`,
		html.EscapeString(title), x0+w+160, y0+h+40, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`, x0, y0, w, h)
	for i := 0; i <= 4; i++ {
		y := float64(y0+h) - float64(i)*h/4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="10" text-anchor="end">%.4g</text>`,
			x0, x0+w, y, y, x0-4, y+3, ymax*float64(i)/4)
		x := float64(x0) + float64(i)*w/4
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%.3g d</text>`, x, y0+h+14, xmax*float64(i)/4)
	}
	for k, l := range lines {
		var pts strings.Builder
		for i := range l.xs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x0+l.xs[i]/xmax*w, float64(y0+h)-math.Min(l.ys[i], ymax)/ymax*h)
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, l.color, strings.TrimSpace(pts.String()))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			x0+w+10, y0+k*16, l.color, x0+w+24, y0+k*16+9, html.EscapeString(l.label))
	}
	b.WriteString("</svg>")
}

// human formats seconds for people: "42 s", "3.5 min", "2.1 h", "4.0 d".
func human(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	case s < 3*86400:
		return fmt.Sprintf("%.1f h", s/3600)
	}
	return fmt.Sprintf("%.1f d", s/86400)
}
