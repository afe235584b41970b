package sched

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

func TestBitsetNext(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 63, 64, 65, 4095, 4096, 4097, 20000} {
		b := newBitset(n)
		in := map[int]bool{}
		for range n / 3 {
			i := r.IntN(n)
			b.set(i)
			in[i] = true
		}
		for range n / 9 {
			i := r.IntN(n)
			b.clear(i)
			delete(in, i)
		}
		var want, got []int
		for i := range n {
			if in[i] {
				want = append(want, i)
			}
		}
		for i := b.next(0); i >= 0; i = b.next(i + 1) {
			got = append(got, i)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("n=%d members (-want +got):\n%s", n, diff)
		}
	}
}

func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		xs := make([]int64, 1+r.IntN(50))
		for i := range xs {
			xs[i] = int64(r.IntN(10))
		}
		k := r.IntN(len(xs))
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		if got := nthSmallest(xs, k); got != sorted[k] {
			t.Fatalf("nthSmallest(%v, %d) = %d, want %d", sorted, k, got, sorted[k])
		}
	}
}

func TestFairTreeRanks(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		cfg   FairShareConfig
		usage map[Account]float64
		want  []Account // first to last in Fair Tree order
	}{
		"under-served organisation first": {
			cfg:   FairShareConfig{OrgShares: map[string]float64{"a": 70, "b": 30}},
			usage: map[Account]float64{{"a", "p", "u"}: 80, {"b", "p", "u"}: 20},
			want:  []Account{{"b", "p", "u"}, {"a", "p", "u"}}, // a: 0.7/0.8 < b: 0.3/0.2
		},
		"shares decide the other way": {
			cfg:   FairShareConfig{OrgShares: map[string]float64{"a": 70, "b": 30}},
			usage: map[Account]float64{{"a", "p", "u"}: 60, {"b", "p", "u"}: 40},
			want:  []Account{{"a", "p", "u"}, {"b", "p", "u"}},
		},
		"class level before organisation level": {
			cfg: FairShareConfig{ClassShares: map[string]float64{ClassResearch: 50, ClassIndustry: 50},
				OrgKind: map[string]string{"uni": core.OrgResearch, "co": core.OrgIndustry, "co2": core.OrgIndustry}},
			usage: map[Account]float64{{"uni", "p", "u"}: 100, {"co", "p", "u"}: 10, {"co2", "p", "u"}: 0},
			want:  []Account{{"co2", "p", "u"}, {"co", "p", "u"}, {"uni", "p", "u"}},
		},
		"users within a project": {
			cfg:   FairShareConfig{},
			usage: map[Account]float64{{"o", "p", "x"}: 5, {"o", "p", "y"}: 1},
			want:  []Account{{"o", "p", "y"}, {"o", "p", "x"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ft := NewFairTree(tc.cfg)
			var accts []Account
			for a, u := range tc.usage {
				accts = append(accts, a)
				if u > 0 {
					ft.Charge(a, u, now)
				} else {
					ft.Add(a)
				}
			}
			ft.Rank(now)
			slices.SortFunc(accts, func(a, b Account) int {
				_, ra, _ := ft.Factor(a)
				_, rb, _ := ft.Factor(b)
				return ra - rb
			})
			if diff := cmp.Diff(tc.want, accts); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFairTreeDecay(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	ft := NewFairTree(FairShareConfig{HalfLife: time.Hour})
	a := Account{"o", "p", "u"}
	ft.Charge(a, 1000, now)
	got := ft.Usage(ClassResearch+"/o/p/u", now.Add(2*time.Hour))
	if got < 249.9 || got > 250.1 {
		t.Errorf("usage after two half-lives = %v, want 250", got)
	}
}

func TestPriorityBreakdownSumsToValue(t *testing.T) {
	c := DefaultPriority()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	in := PriorityInput{ID: 1, Submit: now.Add(-36 * time.Hour), QoS: core.QoSFastLane, Milli: 64000, Total: 1_000_000,
		FairShare: 0.25, FSRank: 3, FSUsers: 4, Account: Account{"o", "p", "u"}}
	b := c.Priority(in, now)
	sum := 0.0
	for _, f := range b.Factors {
		sum += f.Points
	}
	if v := c.Value(&in, now); b.Total != v || sum < v-1e-9 || sum > v+1e-9 {
		t.Errorf("breakdown total %v, factors sum %v, Value %v", b.Total, sum, v)
	}
	if b.Factors[2].Value != 1 {
		t.Errorf("fast-lane QoS factor %v, want 1", b.Factors[2].Value)
	}
}

// TestAllocationPtrEqualsAllocation: the one-allocation form gives the
// same wire allocation as Allocation, for one node, a share, many devices
// and several nodes, and names each node once.
func TestAllocationPtrEqualsAllocation(t *testing.T) {
	cl, err := NewCluster([]core.Site{{ID: "s", Pools: []core.Pool{
		{Name: "gpu", Model: "h100", Nodes: 16, AccelPerNode: 8},
		{Name: "big", Model: "gb200", Nodes: 4, AccelPerNode: 16},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pl   Placement
	}{
		{"one device", Placement{Pool: 0, Nodes: []NodeShare{{Node: 3, Mask: 1 << 5}}}},
		{"a share", Placement{Pool: 0, Nodes: []NodeShare{{Node: 12, Mask: 1 << 2, Milli: 250}}}},
		{"whole node", Placement{Pool: 0, Nodes: []NodeShare{{Node: 0, Mask: 0xff}}}},
		{"more than eight devices", Placement{Pool: 1, Nodes: []NodeShare{{Node: 2, Mask: 0x7ff}}}},
		{"two nodes", Placement{Pool: 0, Nodes: []NodeShare{{Node: 1, Mask: 0xff}, {Node: 2, Mask: 0x0f}}}},
	} {
		want := cl.Allocation(&tc.pl)
		got := cl.AllocationPtr(&tc.pl)
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("%s (-Allocation +AllocationPtr):\n%s", tc.name, diff)
		}
	}
	p := cl.Pools[0]
	if a, b := p.NodeName(7), p.NodeName(7); a != b || a != "gpu-0007" {
		t.Errorf("NodeName(7) = %q then %q, want gpu-0007 twice", a, b)
	}
}
