package portal

import (
	"net/http"
	"slices"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

type projectRow struct {
	core.Project
	Usage *core.ProjectUsage
}

func (p *Portal) projects(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "Projects and awards", Nav: "projects", Live: true}
	list, err := s.c.Projects(r.Context(), "")
	if err != nil {
		p.fail(w, r, "projects", pg, err)
		return
	}
	rows := make([]projectRow, len(list))
	for i, pr := range list {
		rows[i].Project = pr
		rows[i].Usage, _ = s.c.ProjectUsage(r.Context(), pr.Name)
	}
	pg.Data = rows
	p.render(w, r, http.StatusOK, "projects", pg)
}

// burnPoint is one point of an award's burn-down: the hours left after the
// runs that ended by At.
type burnPoint struct {
	At        time.Time
	Used      float64
	Remaining float64
	X, Y      float64 // on the chart
}

// burnDown is an award's chart: remaining hours over the award's
// validity, with the 80 % and 100 % marks.
type burnDown struct {
	Award                   core.Award
	Unit                    string
	Awarded, Used           float64
	Points                  []burnPoint
	Path                    string // the line's SVG path
	Ideal                   string // a straight burn from all to nothing over the validity
	Y80, Y100               float64
	W, H, Left, Bottom, Top float64
	Ticks                   []tick
	XTicks                  []tick
}

type tick struct {
	Pos   float64
	Label string
}

type projectData struct {
	Project core.Project
	Usage   *core.ProjectUsage
	Awards  []core.Award
	Burn    []burnDown
	Members []core.Membership
	Error   string
}

func (p *Portal) project(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	name := r.PathValue("name")
	pg := page{Title: "Project " + name, Nav: "projects", Live: true}
	pr, err := s.c.Project(r.Context(), name)
	if err != nil {
		p.fail(w, r, "project", pg, err)
		return
	}
	d := projectData{Project: *pr}
	d.Usage, _ = s.c.ProjectUsage(r.Context(), name)
	d.Awards, _ = s.c.Awards(r.Context(), name)
	d.Members, _ = s.c.Members(r.Context(), name)
	meters, _ := s.c.UsageJobs(r.Context(), client.UsageQuery{Project: name})
	now := p.opt.Now()
	for _, a := range d.Awards {
		var used float64
		unit := ""
		if d.Usage != nil && d.Usage.Award != nil && d.Usage.Award.ID == a.ID {
			used, unit = d.Usage.Used, d.Usage.Unit
		}
		d.Burn = append(d.Burn, burnOf(a, meters, used, unit, now))
	}
	pg.Data = d
	p.render(w, r, http.StatusOK, "project", pg)
}

// burnOf draws award a's burn-down from the meters of its runs (in the
// award's unit-hours) and, for the current award, the award book's figure
// now (runs still going included).
func burnOf(a core.Award, meters []core.Meter, usedNow float64, unit string, now time.Time) burnDown {
	b := burnDown{Award: a, Unit: unit, W: 640, H: 260, Left: 70, Bottom: 30, Top: 10}
	for _, h := range a.Hours {
		b.Awarded += h
	}
	ms := slices.Clone(meters)
	slices.SortFunc(ms, func(x, y core.Meter) int { return x.End.Compare(y.End) })
	b.Points = append(b.Points, burnPoint{At: a.ValidFrom})
	var used float64
	for _, m := range ms {
		if m.Award != a.ID {
			continue
		}
		used += m.NormHours
		if b.Unit == "" {
			b.Unit = m.NormUnit
		}
		b.Points = append(b.Points, burnPoint{At: m.End, Used: used})
	}
	if usedNow > used && now.Before(a.ValidTo) {
		used = usedNow
		b.Points = append(b.Points, burnPoint{At: now, Used: used})
	}
	b.Used = used
	// Scale: x over the validity, y over what was awarded (or used, if more).
	top := max(b.Awarded, used, 1)
	span := a.ValidTo.Sub(a.ValidFrom).Seconds()
	if span <= 0 {
		span = 1
	}
	plotW, plotH := b.W-b.Left-10, b.H-b.Bottom-b.Top
	x := func(t time.Time) float64 {
		f := t.Sub(a.ValidFrom).Seconds() / span
		return b.Left + plotW*min(1, max(0, f))
	}
	y := func(rem float64) float64 { return b.Top + plotH*(1-max(0, rem)/top) }
	for i := range b.Points {
		pt := &b.Points[i]
		pt.Remaining = b.Awarded - pt.Used
		pt.X, pt.Y = x(pt.At), y(pt.Remaining)
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		b.Path += cmd + coord(pt.X) + " " + coord(pt.Y) + " "
	}
	b.Y80, b.Y100 = y(b.Awarded*0.2), y(0)
	b.Ideal = "M" + coord(x(a.ValidFrom)) + " " + coord(y(b.Awarded)) + " L" + coord(x(a.ValidTo)) + " " + coord(y(0))
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		b.Ticks = append(b.Ticks, tick{Pos: y(top * f), Label: hours(top * f)})
	}
	for _, f := range []float64{0, 0.5, 1} {
		t := a.ValidFrom.Add(time.Duration(f * span * float64(time.Second)))
		b.XTicks = append(b.XTicks, tick{Pos: x(t), Label: t.UTC().Format("2006-01-02")})
	}
	return b
}
