package sched

import "math/bits"

// bitset is a fixed-size set of small integers with a one-level summary, so
// that "lowest member at or after i" costs a few word operations even when
// the set is sparse over tens of thousands of nodes.
type bitset struct {
	words []uint64
	sum   []uint64 // bit w set when words[w] != 0
}

func newBitset(n int) bitset {
	nw := (n + 63) / 64
	return bitset{words: make([]uint64, nw), sum: make([]uint64, (nw+63)/64)}
}

func (b *bitset) set(i int) {
	w := i >> 6
	b.words[w] |= 1 << uint(i&63)
	b.sum[w>>6] |= 1 << uint(w&63)
}

func (b *bitset) clear(i int) {
	w := i >> 6
	b.words[w] &^= 1 << uint(i&63)
	if b.words[w] == 0 {
		b.sum[w>>6] &^= 1 << uint(w&63)
	}
}

func (b *bitset) has(i int) bool { return b.words[i>>6]&(1<<uint(i&63)) != 0 }

// next returns the lowest member >= i, or -1.
func (b *bitset) next(i int) int {
	w := i >> 6
	if w >= len(b.words) {
		return -1
	}
	if m := b.words[w] >> uint(i&63); m != 0 {
		return i + bits.TrailingZeros64(m)
	}
	w++
	for s := w >> 6; s < len(b.sum); s++ {
		m := b.sum[s]
		if s == w>>6 {
			m &^= (1 << uint(w&63)) - 1
		}
		if m != 0 {
			ww := s<<6 + bits.TrailingZeros64(m)
			return ww<<6 + bits.TrailingZeros64(b.words[ww])
		}
	}
	return -1
}
