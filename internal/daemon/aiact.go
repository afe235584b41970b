package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// AIActSettings are the AI Act ledger's settings: the peaks of the
// embedded reference data (config.Accelerators, BF16 dense and FP8 where
// the data has it) and the default utilisation, 0.4. A daemon applies its
// metering utilisation over them (Daemon.AIAct).
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
	end := j.UpdateTime
	if j.EndTime != nil {
		end = *j.EndTime
	}
	d.aiactRun(ctx, j, end, true)
}

// aiactRun adds one run of j, ended at end, to the AI Act ledger: the
// job's last (final) or one that was preempted or lost and requeued.
func (d *Daemon) aiactRun(ctx context.Context, j core.Job, end time.Time, final bool) {
	if j.Spec.Lineage == nil {
		return
	}
	aj := aiact.Job{ID: j.ID, Attempt: j.Attempt, Org: j.Org, Project: j.Project, Lineage: *j.Spec.Lineage,
		At: end, Final: final}
	if j.StartTime != nil && j.Alloc != nil && end.After(*j.StartTime) {
		aj.Accelerators = float64(j.Alloc.Accelerators()) / 1000
		aj.AccelModel = d.modelOf(j.Alloc)
		aj.Duration = end.Sub(*j.StartTime)
	}
	raised, err := d.st.RecordAIAct(ctx, aiact.Contribute(d.AIAct(), aiact.Actual, aj))
	if err != nil {
		d.log.Error("record AI Act compute", "job", int64(j.ID), "err", err)
		return
	}
	for _, n := range raised {
		d.log.Warn("AI Act notification", "model", n.Model, "org", n.Org, "kind", string(n.Kind), "flop", n.FLOP, "job", int64(n.Job), "msg", n.Message)
	}
}

// AIAct is the AI Act ledger's settings for this daemon: the reference
// peaks and the utilisation the metering config assumes (the same number
// for energy and for compute), recorded with every estimate. The API's
// plans and the daemon's runs use the same.
func (d *Daemon) AIAct() aiact.Settings {
	s := AIActSettings()
	s.Utilisation = d.meterCfg.UtilisationUsed()
	return s
}
