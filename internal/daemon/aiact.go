package daemon

import (
	"context"
	"sync"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// AIActSettings are the AI Act ledger's settings: the peaks of the
// embedded reference data (config.Accelerators, BF16 dense and FP8 where
// the data has it) and the default utilisation, 0.4. The API's plans and
// the daemon's runs use the same.
var AIActSettings = sync.OnceValue(func() aiact.Settings {
	s := aiact.Settings{Utilisation: aiact.DefaultUtilisation}
	for _, a := range config.Accelerators() {
		s.Peaks = append(s.Peaks, aiact.Peak{Family: a.Family, Name: a.Name, BF16TFLOPS: a.BF16TFLOPS, FP8TFLOPS: a.FP8TFLOPS, TDPW: float64(a.TDPW)})
	}
	return s
})

// aiactEnded adds what a job's last run used to the AI Act ledger when
// the job declares a model lineage; a job that never ran adds nothing but
// takes its plan out of the model's projection. The store counts each
// attempt once, so a repeated call changes nothing.
func (d *Daemon) aiactEnded(ctx context.Context, j core.Job) {
	if j.Spec.Lineage == nil {
		return
	}
	aj := aiact.Job{ID: j.ID, Attempt: j.Attempt, Org: j.Org, Project: j.Project, Lineage: *j.Spec.Lineage,
		At: j.UpdateTime, Final: true}
	if j.EndTime != nil {
		aj.At = *j.EndTime
	}
	if j.StartTime != nil && j.EndTime != nil && j.Alloc != nil {
		aj.Accelerators = float64(j.Alloc.Accelerators()) / 1000
		aj.AccelModel = d.modelOf(j.Alloc)
		aj.Duration = j.EndTime.Sub(*j.StartTime)
	}
	raised, err := d.st.RecordAIAct(ctx, aiact.Contribute(AIActSettings(), aiact.Actual, aj))
	if err != nil {
		d.log.Error("record AI Act compute", "job", int64(j.ID), "err", err)
		return
	}
	for _, n := range raised {
		d.log.Warn("AI Act notification", "model", n.Model, "org", n.Org, "kind", string(n.Kind), "flop", n.FLOP, "job", int64(n.Job), "msg", n.Message)
	}
}
