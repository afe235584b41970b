package broker

import (
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// A routing pass decides for many jobs of the same shape (the digital
// twin: a dozen arrivals a second, most of them one accelerator for the
// site's default walltime), and each decision changes the estimates of
// one site only: the winner's, whose queue it joins. A Memo keeps one
// shape's decision (which sites pass the filters, each one's components
// and score, the cheapest price and carbon); deciding again for a job of
// that shape rescores only the sites whose estimates changed since, which
// the estimator says by a version per site (VersionedEstimator). The
// result is the one a full DecideWinner would give, bit for bit
// (TestMemoMatchesDecide): filters, price, carbon and data depend on the
// shape and the sites' states alone, which do not change within a pass.

// VersionedEstimator is an Estimator that can say whether its answers for
// site i changed: Version(i) changes whenever Wait(i) or Headroom(i) may.
type VersionedEstimator interface {
	Estimator
	Version(i int) uint64
}

// Memo is one job shape's last decision, for DecideWinnerMemo. The zero
// value is empty. A Memo is valid only while the sites' states and the
// job shape stay as they were: the caller keys memos by shape and drops
// them when a site changes state (or at the end of each pass).
type Memo struct {
	ok       bool
	live     []int
	slot     []int
	score    []float64
	ver      []uint64
	comps    []Component
	minPrice float64
	minCO2   float64
}

// Reset empties m, keeping its memory.
func (m *Memo) Reset() { m.ok = false }

// keep records the decision just taken in sc.
func (m *Memo) keep(sc *scratch, comps []Component, minPrice, minCO2 float64, est Estimator) {
	ve, ok := est.(VersionedEstimator)
	if !ok {
		return
	}
	n := len(sc.score)
	m.live = append(m.live[:0], sc.live...)
	m.slot = append(m.slot[:0], sc.slot...)
	m.score = append(m.score[:0], sc.score...)
	m.comps = append(m.comps[:0], comps...)
	if cap(m.ver) < n {
		m.ver = make([]uint64, n)
	}
	m.ver = m.ver[:n]
	for _, i := range m.live {
		m.ver[i] = ve.Version(i)
	}
	m.minPrice, m.minCO2, m.ok = minPrice, minCO2, true
}

// DecideWinnerMemo is DecideWinner for a job of the shape m remembers (or
// an empty m, which it fills): only the sites whose estimates changed
// since m was filled are scored again.
func (b *Broker) DecideWinnerMemo(j *core.Job, est VersionedEstimator, m *Memo) Decision {
	if !m.ok {
		return b.decide(j, est, true, m)
	}
	sp := &j.Spec
	need := sp.Accelerators
	if need <= 0 {
		need = 1000
	}
	for _, i := range m.live {
		v := est.Version(i)
		if v == m.ver[i] {
			continue
		}
		c := m.comps[m.slot[i] : m.slot[i]+5 : m.slot[i]+5]
		b.components(i, sp, need, est, c)
		m.score[i] = total(c, m.minPrice, m.minCO2)
		m.ver[i] = v
	}
	return b.winner(m.live, m.score, m.slot, m.comps)
}

// ShapeKey is what makes two jobs the same shape for the broker: every
// field of the spec its filters and scores read (KeyOf). Jobs with the
// same key, and the same estimator inputs (the caller adds those), get
// the same decision from the same state.
type ShapeKey struct {
	Accelerators           core.Milli
	Model, Constraint, QoS string
	Topology               string
	Nodes, PerNode         int
	CPUs, Mem              int
	Walltime               time.Duration
	Site, Award            string
	AwardSites, Residency  string
	Datasets               string
}

// KeyOf is sp's shape. Keep it in step with filter, fits, spanFits and
// components: a field they read that KeyOf leaves out would let two jobs
// that differ share a memo.
func KeyOf(sp *core.JobSpec) ShapeKey {
	cpus, mem := hostOf(sp)
	k := ShapeKey{Accelerators: sp.Accelerators, Model: sp.Model, Constraint: sp.Constraint, QoS: sp.QoS,
		Topology: string(sp.Topology), Nodes: sp.Nodes, PerNode: sp.PerNode, CPUs: cpus, Mem: mem,
		Walltime: time.Duration(sp.Walltime), Site: sp.Site, Award: sp.Award}
	if len(sp.AwardSites) > 0 {
		k.AwardSites = strings.Join(sp.AwardSites, "\x00")
	}
	if len(sp.Residency) > 0 {
		k.Residency = strings.Join(sp.Residency, "\x00")
	}
	if len(sp.Datasets) > 0 {
		k.Datasets = strings.Join(sp.Datasets, "\x00")
	}
	return k
}
