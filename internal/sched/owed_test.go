package sched

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestOwedSettlesAsCharged: use accrued per account and settled later
// leaves every node of the tree with the usage ChargeLeaf gives (to
// rounding), and the same ranks.
func TestOwedSettlesAsCharged(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	cfg := FairShareConfig{HalfLife: 6 * time.Hour, OrgKind: map[string]string{"b": "industry", "c": "sme"}}
	eager, lazy := NewFairTree(cfg), NewFairTree(cfg)
	var accts []Account
	for _, o := range []string{"a", "b", "c"} {
		for _, p := range []string{"p", "q"} {
			for _, u := range []string{"x", "y", "z"} {
				accts = append(accts, Account{o, p, u})
			}
		}
	}
	owed := make([]Owed, len(accts))
	el, ll := make([]Leaf, len(accts)), make([]Leaf, len(accts))
	for i, a := range accts {
		el[i], ll[i] = eager.Leaf(a), lazy.Leaf(a)
	}
	r := rand.New(rand.NewPCG(3, 4))
	at := now
	settle := func() {
		for i := range accts {
			if owed[i].Owes() {
				lazy.Settle(ll[i], &owed[i], at)
			}
		}
	}
	for step := range 5000 {
		at = at.Add(time.Duration(r.IntN(300)) * time.Second)
		i := r.IntN(len(accts))
		if i%7 == 0 {
			continue // some never use anything
		}
		use := float64(r.IntN(64)+1) * float64(r.IntN(3600))
		eager.ChargeLeaf(el[i], use, at)
		lazy.Accrue(&owed[i], use, at)
		if step%997 == 0 {
			settle() // a reader now and then
		}
	}
	settle()
	if !lazy.Dirty() {
		t.Fatal("settling should leave the tree to rank again")
	}
	for path := range eager.nodes {
		got, want := lazy.Usage(path, at), eager.Usage(path, at)
		if math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s: usage %v settled, %v charged", path, got, want)
		}
	}
	eager.Rank(at)
	lazy.Rank(at)
	for _, a := range accts {
		fe, re, _ := eager.Factor(a)
		fl, rl, _ := lazy.Factor(a)
		if fe != fl || re != rl {
			t.Errorf("%v: rank %d (%v) settled, %d (%v) charged", a, rl, fl, re, fe)
		}
	}
	var empty Owed
	lazy.Settle(ll[0], &empty, at) // nothing owed: no change
	if lazy.Dirty() {
		t.Error("settling nothing made the tree dirty")
	}
}
