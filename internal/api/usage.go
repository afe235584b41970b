package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/award"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/store"
)

func (s *Server) projectUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.st.GetProject(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !member(userFrom(ctx), p.Org) {
		return notFound("no project %q", name)
	}
	if err != nil {
		return err
	}
	out := core.ProjectUsage{Project: p.Name, BySiteModel: []core.UsageRow{}}
	au, err := s.d.ProjectAward(ctx, p.Name)
	if err != nil {
		return err
	}
	if au.Award != nil {
		out.Award, out.Held = au.Award, au.Held
		out.Unit, out.Awarded, out.Used, out.Remaining = au.State.Unit, au.State.Total, au.State.Used, au.State.Remaining
	}
	models := map[[2]string]string{} // site, pool → model
	for _, st := range s.d.Sites() {
		for _, pl := range st.Pools {
			models[[2]string{st.ID, pl.Name}] = pl.Model
		}
	}
	rates := s.d.ExchangeRates()
	rows := map[[2]string]*core.UsageRow{}
	now := time.Now()
	// Pending jobs hold nothing yet: a long queue costs no read.
	f := store.JobFilter{Project: p.Name, Limit: store.MaxLimit,
		States: []core.State{core.StateStarting, core.StateRunning, core.StateCompleted, core.StateFailed, core.StateCancelled, core.StateTimeout}}
	for {
		page, next, err := s.st.ListJobs(ctx, f)
		if err != nil {
			return err
		}
		for _, j := range page {
			if j.StartTime == nil || j.Alloc == nil {
				continue
			}
			end := now
			if j.EndTime != nil {
				end = *j.EndTime
			}
			model := models[[2]string{j.Alloc.Site, j.Alloc.FirstPool()}]
			k := [2]string{j.Alloc.Site, model}
			row := rows[k]
			if row == nil {
				row = &core.UsageRow{Site: j.Alloc.Site, Model: model}
				rows[k] = row
			}
			h := float64(j.Alloc.Accelerators()) / 1000 * end.Sub(*j.StartTime).Hours()
			row.Jobs++
			row.AcceleratorHours += h
			if out.Award != nil {
				row.ChargedHours += award.Charge(rates, model, out.Unit, h)
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	for _, row := range rows {
		out.BySiteModel = append(out.BySiteModel, *row)
	}
	slices.SortFunc(out.BySiteModel, func(a, b core.UsageRow) int {
		if c := strings.Compare(a.Site, b.Site); c != 0 {
			return c
		}
		return strings.Compare(a.Model, b.Model)
	})
	return writeJSON(w, http.StatusOK, out)
}
