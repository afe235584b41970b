package broker_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
)

// versioned is flat with a version per site, bumped on every change.
type versioned struct {
	flat
	ver []uint64
}

func (v *versioned) Version(i int) uint64 { return v.ver[i] }

// A memo's decision is DecideWinner's, bit for bit, as the estimates of
// one site at a time change between decisions for jobs of a few shapes
// (as a routing pass changes the winner's queue after each decision).
func TestMemoMatchesDecide(t *testing.T) {
	eu := config.EU()
	plain, memoed := broker.New(broker.Config{}, eu.Sites), broker.New(broker.Config{}, eu.Sites)
	rng := rand.New(rand.NewPCG(17, 17))
	n := len(eu.Sites)
	est := &versioned{flat: flat{wait: make([]time.Duration, n), head: make([]float64, n)}, ver: make([]uint64, n)}
	for i := range n {
		est.wait[i] = time.Duration(rng.IntN(48)) * time.Hour
		est.head[i] = rng.Float64()
	}
	shapes := []*core.Job{
		job(1, "").obj(), job(1, "").wall(0).obj(), job(8, "").obj(), job(4, "NVIDIA H100").obj(),
		job(1, "").res("DE", "FR").obj(), job(2, "").data("imagenet").obj(), job(4096, "NVIDIA GB200").obj(),
	}
	memos := map[broker.ShapeKey]*broker.Memo{}
	hits := 0
	for k := range 5000 {
		j := shapes[rng.IntN(len(shapes))]
		key := broker.KeyOf(&j.Spec)
		m := memos[key]
		if m == nil {
			m = &broker.Memo{}
			memos[key] = m
		} else {
			hits++
		}
		want, got := plain.DecideWinner(j, est), memoed.DecideWinnerMemo(j, est, m)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("decision %d, shape %+v: the memo's differs from DecideWinner (-want +got):\n%s", k, key, diff)
		}
		// The winner's queue grows (or some site's estimate moves).
		i := rng.IntN(n)
		if w, ok := plain.Index(got.Winner); ok && rng.IntN(3) > 0 {
			i = w
		}
		est.wait[i] += time.Duration(rng.IntN(3600)) * time.Second
		est.head[i] = max(est.head[i]-rng.Float64()/10, 0)
		est.ver[i]++
		if rng.IntN(500) == 0 {
			clear(memos) // a new pass
		}
	}
	if hits < 4000 {
		t.Errorf("%d decisions from a memo: want most", hits)
	}
}

// Jobs that differ in a field the broker reads differ in shape.
func TestKeyOfTellsShapesApart(t *testing.T) {
	base := func() *core.JobSpec { return &job(1, "").obj().Spec }
	edits := map[string]func(*core.JobSpec){
		"accelerators": func(s *core.JobSpec) { s.Accelerators = 2000 },
		"model":        func(s *core.JobSpec) { s.Model = "NVIDIA H100" },
		"constraint":   func(s *core.JobSpec) { s.Constraint = "nvlink" },
		"qos":          func(s *core.JobSpec) { s.QoS = "high" },
		"nodes":        func(s *core.JobSpec) { s.Nodes = 2 },
		"per node":     func(s *core.JobSpec) { s.PerNode = 1 },
		"memory":       func(s *core.JobSpec) { s.MemMiBPerNode = 1024 },
		"walltime":     func(s *core.JobSpec) { s.Walltime = core.Duration(time.Minute) },
		"site":         func(s *core.JobSpec) { s.Site = "gf-de" },
		"award sites":  func(s *core.JobSpec) { s.AwardSites = []string{"gf-de"} },
		"residency":    func(s *core.JobSpec) { s.Residency = []string{"DE"} },
		"datasets":     func(s *core.JobSpec) { s.Datasets = []string{"x"} },
		"topology":     func(s *core.JobSpec) { s.Topology = "pod" },
	}
	k0 := broker.KeyOf(base())
	for name, edit := range edits {
		s := base()
		edit(s)
		if broker.KeyOf(s) == k0 {
			t.Errorf("%s changed, shape the same", name)
		}
	}
}
