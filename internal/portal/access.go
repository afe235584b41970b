package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The access view (issue 14 in the portal): open calls, the viewer's
// proposals and a form to write one; a reviewer's queue with a score form;
// an allocator's ranking of each open or closed call with an award form.
// Everything is read and written through the API with the viewer's token,
// so each part shows what the viewer's role lets the API answer.

// proposalRow is a proposal with its hours written out.
type proposalRow struct {
	core.Proposal
	HoursText string
	Period    string // "2026-12-01 to 2027-03-01"
	Awarded   string // the award's hours, once awarded
}

func rowOf(pr core.Proposal) proposalRow {
	return proposalRow{Proposal: pr, HoursText: hoursText(pr.Hours), Period: dateOf(pr.Start) + " to " + dateOf(pr.End)}
}

// queueItem is a proposal assigned to the viewer for review.
type queueItem struct {
	proposalRow
	Review core.Review
	Scored bool
}

// awardModel is one model's hours field of an award form.
type awardModel struct {
	Model string
	Hours string // the field's value
}

// rankedRow is one line of a call's ranking, with its award form.
type rankedRow struct {
	access.Ranked
	Title     string
	Awardable bool
	Models    []awardModel
	From, To  string // the form's validity, as dates
}

// callRanking is one call's ranking for allocators.
type callRanking struct {
	Call    core.Call
	Rows    []rankedRow
	Awarded float64 // hours awarded in the call so far
	Error   string
}

type accessData struct {
	Calls     []core.Call // open
	Proposals []proposalRow
	Projects  []core.Project
	Reviewer  bool
	Queue     []queueItem
	Allocator bool
	Rankings  []callRanking
	// Form is the last form posted, kept when it failed; FormFor names
	// the proposal a failed review or award form was for.
	Form    url.Values
	FormFor string
	Today   string
	Scores  []int
}

func (p *Portal) accessView(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "access", p.accessPage(r, url.Values{}, ""))
}

// accessPage reads everything the view shows; a part the API refuses is
// left empty (the viewer may not see it).
func (p *Portal) accessPage(r *http.Request, form url.Values, formFor string) page {
	s := sessionFrom(r)
	ctx := r.Context()
	pg := page{Title: "Access", Nav: "access", Live: true}
	d := accessData{Form: form, FormFor: formFor, Today: p.opt.Now().UTC().Format(time.DateOnly)}
	for i := core.MinScore; i <= core.MaxScore; i++ {
		d.Scores = append(d.Scores, i)
	}
	d.Calls, _ = s.c.Calls(ctx, core.CallOpen)
	d.Projects, _ = s.c.Projects(ctx, "")
	props, _ := s.c.Proposals(ctx, client.ProposalFilter{})
	awards, _ := s.c.Awards(ctx, "")
	byID := map[string]core.Proposal{}
	for _, pr := range props {
		byID[pr.ID] = pr
		row := rowOf(pr)
		for _, a := range awards {
			if a.Proposal == pr.ID {
				row.Awarded = hoursText(a.Hours)
			}
		}
		d.Proposals = append(d.Proposals, row)
	}
	if s.me.Role == core.RoleReviewer {
		d.Reviewer = true
		for _, pr := range props {
			if pr.State != core.ProposalUnderReview && pr.State != core.ProposalSubmitted {
				continue
			}
			revs, err := s.c.Reviews(ctx, pr.ID)
			if err != nil {
				continue
			}
			for _, rv := range revs {
				if rv.Reviewer == s.me.Name && !rv.Conflict {
					d.Queue = append(d.Queue, queueItem{proposalRow: rowOf(pr),
						Review: rv, Scored: rv.SubmittedAt != nil})
				}
			}
		}
	}
	if s.me.Role == core.RoleAllocator || s.me.Role == core.RoleAdmin {
		d.Allocator = true
		calls, _ := s.c.Calls(ctx, "")
		for _, c := range calls {
			if c.State != core.CallOpen && c.State != core.CallClosed {
				continue
			}
			cr := callRanking{Call: c}
			for _, a := range awards {
				if a.Call == c.ID {
					cr.Awarded += access.TotalHours(a.Hours)
				}
			}
			ranked, err := s.c.Ranking(ctx, c.ID)
			if err != nil {
				cr.Error = err.Error()
			}
			for _, rk := range ranked {
				pr := byID[rk.Proposal]
				row := rankedRow{Ranked: rk, Title: pr.Title,
					Awardable: rk.State == core.ProposalSubmitted || rk.State == core.ProposalUnderReview}
				own := formFor == rk.Proposal
				for _, m := range c.Models {
					v := ""
					if h, ok := pr.Hours[m]; ok {
						v = strconv.FormatFloat(h, 'f', -1, 64)
					}
					if own {
						v = form.Get("hours:" + m)
					}
					row.Models = append(row.Models, awardModel{Model: m, Hours: v})
				}
				row.From, row.To = dateOf(pr.Start), dateOf(pr.End)
				if own {
					row.From, row.To = form.Get("valid_from"), form.Get("valid_to")
				}
				cr.Rows = append(cr.Rows, row)
			}
			d.Rankings = append(d.Rankings, cr)
		}
	}
	pg.Data = d
	return pg
}

// accessFailed shows err on the access page, keeping the form.
func (p *Portal) accessFailed(w http.ResponseWriter, r *http.Request, formFor string, err error) {
	pg := p.accessPage(r, r.PostForm, formFor)
	if fe, ok := err.(formError); ok {
		pg.Error = fe.Error()
		p.render(w, r, http.StatusUnprocessableEntity, "access", pg)
		return
	}
	p.fail(w, r, "access", pg, err)
}

// accessDone sends the browser back to the access view with msg.
func accessDone(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/access?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

// formError is a form field the portal could not read, named as the API
// names its fields.
type formError struct{ field, msg string }

func (e formError) Error() string { return e.field + ": " + e.msg }

func (p *Portal) createProposal(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	np, err := proposalFromForm(r.PostForm)
	if err != nil {
		p.accessFailed(w, r, "", err)
		return
	}
	pr, err := s.c.CreateProposal(r.Context(), np)
	if err != nil {
		p.accessFailed(w, r, "", err)
		return
	}
	accessDone(w, r, fmt.Sprintf("Proposal %s written (%s).", pr.ID, pr.State))
}

// proposalFromForm reads core.NewProposal's fields off the form.
func proposalFromForm(f url.Values) (core.NewProposal, error) {
	np := core.NewProposal{Call: strings.TrimSpace(f.Get("call")), Project: strings.TrimSpace(f.Get("project")),
		Title: strings.TrimSpace(f.Get("title")), Abstract: strings.TrimSpace(f.Get("abstract")), Submit: f.Get("submit") == "1"}
	var err error
	if np.Hours, err = parseHours("hours", f.Get("hours")); err != nil {
		return np, err
	}
	if np.Start, err = parseDate("start", f.Get("start")); err != nil {
		return np, err
	}
	if np.End, err = parseDate("end", f.Get("end")); err != nil {
		return np, err
	}
	for _, c := range strings.FieldsFunc(f.Get("residency"), func(r rune) bool { return r == ',' || r == ' ' }) {
		np.Residency = append(np.Residency, strings.ToUpper(c))
	}
	return np, nil
}

// parseHours reads "h100=1500, a100=200" (the CLI's --hours).
func parseHours(field, v string) (map[string]float64, error) {
	out := map[string]float64{}
	// A comma splits models unless it is a thousands separator: "h100=1,500".
	var parts []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if n := len(parts); n > 0 && len(part) == 3 && strings.Trim(part, "0123456789") == "" && strings.Contains(parts[n-1], "=") {
			parts[n-1] += part
			continue
		}
		parts = append(parts, part)
	}
	for _, part := range parts {
		if part == "" {
			continue
		}
		model, h, ok := strings.Cut(part, "=")
		if !ok {
			return nil, formError{field, fmt.Sprintf("%q: write MODEL=HOURS, e.g. h100=1500", part)}
		}
		n, err := parseNumber(h)
		if err != nil || n <= 0 {
			return nil, formError{field + "." + strings.TrimSpace(model), fmt.Sprintf("%q is not a positive number of hours", strings.TrimSpace(h))}
		}
		out[strings.TrimSpace(model)] = n
	}
	if len(out) == 0 {
		return nil, formError{field, "ask hours for at least one model, e.g. h100=1500"}
	}
	return out, nil
}

// parseNumber reads a number people write: "1,500" or "1500.5".
func parseNumber(v string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(v), ",", ""), 64)
}

// parseDate reads a date (2026-12-31) or an RFC 3339 time.
func parseDate(field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, formError{field, "required: a date like 2026-12-31"}
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, formError{field, fmt.Sprintf("%q is not a date like 2026-12-31", v)}
	}
	return t, nil
}

func (p *Portal) reviewProposal(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	id := r.PathValue("id")
	f := r.PostForm
	sc := core.ReviewScores{Comments: strings.TrimSpace(f.Get("comments")), Conflict: f.Get("conflict") == "1",
		ConflictReason: strings.TrimSpace(f.Get("conflict_reason"))}
	for _, x := range []struct {
		field string
		to    *int
	}{{"technical", &sc.Technical}, {"scientific", &sc.Scientific}} {
		v := strings.TrimSpace(f.Get(x.field))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			p.accessFailed(w, r, id, formError{x.field, fmt.Sprintf("%q is not a score from %d to %d", v, core.MinScore, core.MaxScore)})
			return
		}
		*x.to = n
	}
	if _, err := s.c.Review(r.Context(), id, sc); err != nil {
		p.accessFailed(w, r, id, err)
		return
	}
	msg := "Review of " + id + " recorded."
	if sc.Conflict {
		msg = "Conflict with " + id + " declared: your review no longer counts."
	}
	accessDone(w, r, msg)
}

func (p *Portal) awardProposal(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	id := r.PathValue("id")
	a, err := awardFromForm(r.PostForm)
	if err != nil {
		p.accessFailed(w, r, id, err)
		return
	}
	aw, err := s.c.Award(r.Context(), id, a)
	if err != nil {
		p.accessFailed(w, r, id, err)
		return
	}
	accessDone(w, r, fmt.Sprintf("Award %s made to project %s: %s.", aw.ID, aw.Project, hoursText(aw.Hours)))
}

// awardFromForm reads client.NewAward off the form: a field hours:MODEL
// per model, valid_from and valid_to, sites (comma-separated, optional).
func awardFromForm(f url.Values) (client.NewAward, error) {
	a := client.NewAward{Hours: map[string]float64{}}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		model, ok := strings.CutPrefix(k, "hours:")
		v := strings.TrimSpace(f.Get(k))
		if !ok || v == "" {
			continue
		}
		n, err := parseNumber(v)
		if err != nil {
			return a, formError{"hours." + model, fmt.Sprintf("%q is not a number of hours", v)}
		}
		if n != 0 {
			a.Hours[model] = n
		}
	}
	var err error
	if a.ValidFrom, err = parseDate("valid_from", f.Get("valid_from")); err != nil {
		return a, err
	}
	if a.ValidTo, err = parseDate("valid_to", f.Get("valid_to")); err != nil {
		return a, err
	}
	for _, site := range strings.FieldsFunc(f.Get("sites"), func(r rune) bool { return r == ',' || r == ' ' }) {
		a.Sites = append(a.Sites, site)
	}
	return a, nil
}

// hoursText writes hours by model: "h100 1,500 h, a100 200 h".
func hoursText(hours map[string]float64) string {
	models := make([]string, 0, len(hours))
	for m := range hours {
		models = append(models, m)
	}
	slices.Sort(models)
	parts := make([]string, len(models))
	for i, m := range models {
		d := 0
		if h := hours[m]; h != float64(int64(h)) {
			d = 3
		}
		parts[i] = m + " " + dec(d, hours[m]) + " h"
	}
	return strings.Join(parts, ", ")
}

// dateOf writes t's date for a date field ("" for none).
func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
