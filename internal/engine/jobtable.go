package engine

import "github.com/gigafactory/gigafactory/internal/core"

// jobTable maps job ids to the engine's records: an open-addressing hash
// table with linear probing, its slots (id, record) side by side, so a
// lookup costs one cache miss where a map costs two (control word, then
// slot). A month of the EU network looks up 32 million jobs three times
// each in a table of 160,000. Deletion shifts the following run back
// (no tombstones). Iteration (each) is in slot order: callers that need
// an order sort, as they did over a map.
type jobTable struct {
	slots []jobSlot
	n     int
	shift uint8 // 64 - log2(len(slots))
}

type jobSlot struct {
	id core.JobID
	j  *job // nil = empty
}

// index is id's home slot. Four consecutive ids share an aligned group of
// four slots (one cache line), and groups are spread by a multiplicative
// hash: ids are handed out in order, so a submission mostly probes the
// line that the one before it just touched, while the ids that end
// together, which are unrelated, still spread over the table.
func (t *jobTable) index(id core.JobID) int {
	h := int((uint64(id>>2) * 0x9E3779B97F4A7C15) >> t.shift)
	return h&^3 | int(id&3)
}

// get returns id's record, or nil.
func (t *jobTable) get(id core.JobID) *job {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.index(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.j == nil {
			return nil
		}
		if s.id == id {
			return s.j
		}
	}
}

// put sets id's record (j must not be nil).
func (t *jobTable) put(id core.JobID, j *job) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.index(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.j == nil {
			*s = jobSlot{id, j}
			t.n++
			return
		}
		if s.id == id {
			s.j = j
			return
		}
	}
}

// del removes id, if present.
func (t *jobTable) del(id core.JobID) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.index(id)
	for {
		s := &t.slots[i]
		if s.j == nil {
			return
		}
		if s.id == id {
			break
		}
		i = (i + 1) & mask
	}
	// Shift back the entries after i that probed past it.
	for k := (i + 1) & mask; ; k = (k + 1) & mask {
		s := t.slots[k]
		if s.j == nil {
			break
		}
		home := t.index(s.id)
		// s may move to i if i lies cyclically in [home, k): its probe
		// from home passes i before k.
		if (i-home)&mask < (k-home)&mask {
			t.slots[i] = s
			i = k
		}
	}
	t.slots[i] = jobSlot{}
	t.n--
}

func (t *jobTable) grow() {
	old := t.slots
	size := max(2*len(old), 64)
	t.slots = make([]jobSlot, size)
	t.shift = uint8(64 - log2(size))
	t.n = 0
	for _, s := range old {
		if s.j != nil {
			t.put(s.id, s.j)
		}
	}
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}

// len is the number of records.
func (t *jobTable) len() int { return t.n }

// each calls f for every record, in slot order; f must not change the
// table.
func (t *jobTable) each(f func(id core.JobID, j *job)) {
	for _, s := range t.slots {
		if s.j != nil {
			f(s.id, s.j)
		}
	}
}
