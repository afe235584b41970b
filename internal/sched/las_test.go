package sched

import (
	"testing"
	"time"
)

func TestLASQueue(t *testing.T) {
	c := LASConfig{Thresholds: []float64{3600, 36000}, StarvationFactor: 2, StarvationCap: 6 * time.Hour}
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name     string
		attained float64
		ran      time.Duration
		queued   time.Time
		now      time.Time
		want     int
		promoted bool
	}{
		{"never ran", 0, 0, time.Time{}, t0, 0, false},
		{"just below the first bound", 3599, time.Hour, t0, t0, 0, false},
		{"at the first bound", 3600, time.Hour, t0, t0, 1, false},
		{"beyond the last bound", 1e6, time.Hour, t0, t0, 2, false},
		{"running (not queued)", 1e6, time.Hour, time.Time{}, t0.Add(100 * time.Hour), 2, false},
		{"waited twice its run: not yet", 1e6, time.Hour, t0, t0.Add(2 * time.Hour), 2, false},
		{"waited more than twice its run", 1e6, time.Hour, t0, t0.Add(2*time.Hour + time.Second), 0, true},
		{"cap, though it ran long", 1e6, 100 * time.Hour, t0, t0.Add(6*time.Hour + time.Second), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, p := c.Queue(tt.attained, tt.ran, tt.queued, tt.now)
			if q != tt.want || p != tt.promoted {
				t.Errorf("Queue = %d, %v; want %d, %v", q, p, tt.want, tt.promoted)
			}
		})
	}
	off := LASConfig{Thresholds: []float64{3600}}
	if q, p := off.Queue(1e6, time.Second, t0, t0.Add(1000*time.Hour)); q != 1 || p {
		t.Errorf("no guard: Queue = %d, %v; want 1, false", q, p)
	}
}

func TestQueueFactor(t *testing.T) {
	for _, tt := range []struct {
		q, n int
		want float64
	}{{0, 1, 1}, {0, 3, 1}, {1, 3, 0.5}, {2, 3, 0}, {1, 2, 0}} {
		if got := QueueFactor(tt.q, tt.n); got != tt.want {
			t.Errorf("QueueFactor(%d, %d) = %v, want %v", tt.q, tt.n, got, tt.want)
		}
	}
}

// TestClassThenAttained: under weights like engine.DefaultConfig's, the
// class outranks the queue, which outranks everything else, and the
// breakdown shows both factors and sums to the value the scheduler uses.
func TestClassThenAttained(t *testing.T) {
	pc := DefaultPriority()
	pc.ClassWeight, pc.AttainedWeight, pc.LAS = 1_000_000, 100_000, DefaultLAS()
	ft := NewFairTree(FairShareConfig{OrgKind: map[string]string{"uni": ClassResearch, "acme": ClassIndustry}})
	now := time.Unix(2_000_000, 0)
	ft.Charge(Account{"acme", "p", "u"}, 1e6, now) // industry has used; research not
	ft.Add(Account{"uni", "p", "u"})
	ft.Add(Account{"uni", "p", "v"})
	ft.Rank(now)
	in := func(a Account, attained float64) PriorityInput {
		f, rank, users := ft.Factor(a)
		cf, cl, cr, cn := ft.ClassFactor(a)
		return PriorityInput{ID: 1, Submit: now.Add(-time.Hour), Account: a, FairShare: f, FSRank: rank, FSUsers: users,
			ClassFactor: cf, Class: cl, ClassRank: cr, Classes: cn, Attained: attained, Ran: time.Hour, Queued: now.Add(-time.Minute)}
	}
	research, industry := in(Account{"uni", "p", "v"}, 1e6), in(Account{"acme", "p", "u"}, 0)
	if research.ClassFactor != 1 || industry.ClassFactor != 0.5 || industry.ClassRank != 2 || industry.Classes != 2 {
		t.Fatalf("class factors: research %+v, industry %+v", research, industry)
	}
	if a, b := pc.Value(&research, now), pc.Value(&industry, now); a <= b {
		t.Errorf("research in the last queue (%v) ranks below industry in the first (%v): class must come first", a, b)
	}
	fresh := in(Account{"uni", "p", "v"}, 0)
	other := in(Account{"uni", "p", "u"}, 1e6) // a better fair-share rank, a later queue
	if a, b := pc.Value(&fresh, now), pc.Value(&other, now); a <= b {
		t.Errorf("inside a class, the first queue (%v) must outrank the last (%v)", a, b)
	}
	b := pc.Priority(research, now)
	names := map[string]Factor{}
	sum := 0.0
	for _, f := range b.Factors {
		names[f.Name] = f
		sum += f.Points
	}
	if names["class"].Note == "" || names["attained"].Value != 0 || names["attained"].Note == "" {
		t.Errorf("breakdown lacks the class or attained factor: %+v", b.Factors)
	}
	if b.Total != pc.Value(&research, now) || b.Total != sum {
		t.Errorf("breakdown total %v, Value %v, sum of points %v", b.Total, pc.Value(&research, now), sum)
	}
}
