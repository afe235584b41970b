package engine

// Events that change the engine's configuration while it runs: the
// shell tells the engine, rather than editing maps the engine reads.
// The engine owns its Config's maps from New on; a caller that keeps
// using the maps it passed in must pass copies.

// OrgKindSet sets an organisation's kind (its fair-share class). Accounts
// the engine already made keep the class they were made with, as the fair
// tree's leaves do.
type OrgKindSet struct {
	Org  string
	Kind string
}

// ProjectBudgetSet sets a project's accelerator-hour budget; Hours <= 0
// removes it.
type ProjectBudgetSet struct {
	Project string
	Hours   float64
}

func (OrgKindSet) isEvent()       {}
func (ProjectBudgetSet) isEvent() {}

// setConfig applies a configuration event.
func (e *Engine) setConfig(ev Event) {
	switch ev := ev.(type) {
	case OrgKindSet:
		if e.cfg.FairShare.OrgKind == nil {
			e.cfg.FairShare.OrgKind = map[string]string{}
		}
		e.cfg.FairShare.OrgKind[ev.Org] = ev.Kind
	case ProjectBudgetSet:
		if ev.Hours <= 0 {
			delete(e.cfg.Quotas.ProjectBudgetHours, ev.Project)
			return
		}
		if e.cfg.Quotas.ProjectBudgetHours == nil {
			e.cfg.Quotas.ProjectBudgetHours = map[string]float64{}
		}
		e.cfg.Quotas.ProjectBudgetHours[ev.Project] = ev.Hours
	}
}
