package meter

import (
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestMeterGangAcrossPools: a gang across pools of one model is metered
// with that model and every accelerator, and records the pools it held.
func TestMeterGangAcrossPools(t *testing.T) {
	h100b := h100
	h100b.Name = "gpu-2"
	s := site(core.SiteFactory, "DE", h100, h100b)
	j := job(8, 2)
	j.Alloc.Pool = "gpu,gpu-2"
	j.Alloc.Nodes[0].Node, j.Alloc.Nodes[1].Node = "gpu-0000", "gpu-2-0000"
	m := Config{}.Meter(Run{Job: j, Start: t0, End: t0.Add(2 * 3600e9), State: string(core.StateCompleted), Site: s})
	if m.Model != "NVIDIA H100" || m.Pool != "gpu,gpu-2" || m.Accelerators != 8 || m.Nodes != 2 {
		t.Errorf("meter model %q pool %q, %v accelerators on %d nodes; want NVIDIA H100, gpu,gpu-2, 8 on 2", m.Model, m.Pool, m.Accelerators, m.Nodes)
	}
	if !near(m.AccelHours, 16) {
		t.Errorf("accelerator-hours %v, want 16", m.AccelHours)
	}
}
