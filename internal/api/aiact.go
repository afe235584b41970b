package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
)

// The AI Act ledger's routes (issue 15; rules in package aiact, records in
// the store). A tenant sees its organisation's models and notifications;
// a global admin sees every organisation's.

// aiactPlanned adds the planned compute of newly submitted jobs that
// declare a model lineage to the ledger: the job's accelerators for its
// whole walltime. A plan that makes a crossing certain raises its
// notification now, dated at the submission. The jobs are stored already,
// so a failure here is logged and does not fail the submission.
func (s *Server) aiactPlanned(ctx context.Context, jobs []core.Job, created []bool) {
	for i, j := range jobs {
		if j.Spec.Lineage == nil || i < len(created) && !created[i] {
			continue
		}
		c := aiact.Contribute(s.d.AIAct(), aiact.Planned, aiact.Job{ID: j.ID, Org: j.Org, Project: j.Project,
			Lineage: *j.Spec.Lineage, At: j.SubmitTime, Accelerators: float64(j.Spec.Accelerators) / 1000,
			AccelModel: j.Spec.Model, Duration: time.Duration(j.Spec.Walltime)})
		s.recordAIAct(ctx, c)
		// The project's award is planned compute for the model too.
		if a, ok := s.d.CurrentAward(j.Project); ok {
			s.recordAIAct(ctx, aiact.AwardContribution(s.d.AIAct(), j.Org, a, *j.Spec.Lineage, j.SubmitTime))
		}
	}
}

// recordAIAct records one contribution and logs the notifications it
// raises; a failure is logged, never fails the request.
func (s *Server) recordAIAct(ctx context.Context, c aiact.Contribution) {
	raised, err := s.st.RecordAIAct(ctx, c)
	if err != nil {
		s.log.Error("record AI Act contribution", "model", c.Model, "job", int64(c.Job), "award", c.Award, "err", err)
		return
	}
	for _, n := range raised {
		s.log.Warn("AI Act notification", "model", n.Model, "org", n.Org, "kind", string(n.Kind), "flop", n.FLOP, "job", int64(n.Job), "msg", n.Message)
	}
}

// aiactAward records award a (made or extended) as planned compute for
// every model its project's jobs have declared: a crossing it makes
// certain is known now, dated today (the Art. 52 clock).
func (s *Server) aiactAward(ctx context.Context, a core.Award) {
	cs, err := s.st.AIActContributions(ctx)
	if err != nil {
		s.log.Error("AI Act: read the ledger for an award", "award", a.ID, "err", err)
		return
	}
	seen := map[string]bool{}
	now := time.Now()
	for _, c := range cs {
		if c.Project != a.Project || c.Model == "" || seen[c.Org+"\x00"+c.Model] {
			continue
		}
		seen[c.Org+"\x00"+c.Model] = true
		s.recordAIAct(ctx, aiact.AwardContribution(s.d.AIAct(), c.Org, a, c.Lineage, now))
	}
}

// aiactLedger evaluates the ledger and keeps the models u may see.
func (s *Server) aiactLedger(ctx context.Context, u core.User) ([]aiact.Model, error) {
	cs, err := s.st.AIActContributions(ctx)
	if err != nil {
		return nil, err
	}
	models := []aiact.Model{}
	for _, m := range aiact.Evaluate(cs).Models {
		if member(u, m.Org) {
			models = append(models, m)
		}
	}
	return models, nil
}

func (s *Server) listAIActModels(w http.ResponseWriter, r *http.Request) error {
	models, err := s.aiactLedger(r.Context(), userFrom(r.Context()))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[aiact.Model]{Items: models})
}

// aiactModel finds model id among those the caller may see: its own
// organisation's first, then (a global admin) the organisation the org
// parameter names or the first by name.
func (s *Server) aiactModel(r *http.Request) (aiact.Model, error) {
	ctx := r.Context()
	u := userFrom(ctx)
	id, org := r.PathValue("id"), r.URL.Query().Get("org")
	if err := checkText("org", org, maxQueryValue, false); err != nil {
		return aiact.Model{}, err
	}
	models, err := s.aiactLedger(ctx, u)
	if err != nil {
		return aiact.Model{}, err
	}
	var found *aiact.Model
	for i, m := range models {
		if m.ID != id || org != "" && m.Org != org {
			continue
		}
		if found == nil || m.Org == u.Org {
			found = &models[i]
		}
	}
	if found == nil {
		return aiact.Model{}, notFound("no model %q", id)
	}
	return *found, nil
}

func (s *Server) getAIActModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.aiactModel(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) aiactReport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	switch format {
	case "", "markdown", "json":
	default:
		return invalidField("format", "want markdown or json, got %q", format)
	}
	m, err := s.aiactModel(r)
	if err != nil {
		return err
	}
	ns, err := s.st.AIActNotifications(r.Context(), m.Org)
	if err != nil {
		return err
	}
	rep := aiact.NewReport(m, ns)
	if format == "json" {
		return writeJSON(w, http.StatusOK, rep)
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, err = w.Write([]byte(rep.Markdown()))
	return err
}

func (s *Server) listAIActNotifications(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	org := u.Org
	if isAdmin(u) {
		org = ""
	}
	ns, err := s.st.AIActNotifications(ctx, org)
	if err != nil {
		return err
	}
	out := []aiact.Notification{}
	for _, n := range ns {
		if member(u, n.Org) {
			out = append(out, n)
		}
	}
	return writeJSON(w, http.StatusOK, list[aiact.Notification]{Items: out})
}
