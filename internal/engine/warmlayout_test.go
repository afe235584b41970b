package engine

import (
	"testing"
	"unsafe"
)

// cacheLine is the line size warmRecord assumes (amd64, arm64).
const cacheLine = 64

// TestWarmRecordLayout pins the byte offsets warmRecord relies on: each
// field it reads (the offsets in its comments) sits where the comment
// says, on a line of its own, and the reads cover every line the record
// spans, records starting at the same place in a line (measured: Go puts
// a malloc header before large objects with pointers). A field added to core.Job, core.JobSpec or the
// engine's job state moves these: update warmRecord's reads and comments,
// then this table, until every line is read again.
func TestWarmRecordLayout(t *testing.T) {
	var j job
	spec, state, req := unsafe.Offsetof(j.Spec), unsafe.Offsetof(j.jobState), unsafe.Offsetof(j.req)
	reads := []struct {
		name      string
		got, want uintptr
	}{
		{"ID", unsafe.Offsetof(j.ID), 0},
		{"Spec.Command", spec + unsafe.Offsetof(j.Spec.Command), 104},
		{"Spec.Accelerators", spec + unsafe.Offsetof(j.Spec.Accelerators), 144},
		{"Spec.QoS", spec + unsafe.Offsetof(j.Spec.QoS), 208},
		{"Spec.Residency", spec + unsafe.Offsetof(j.Spec.Residency), 256},
		{"Spec.Site", spec + unsafe.Offsetof(j.Spec.Site), 344},
		{"Spec.NodesMax", spec + unsafe.Offsetof(j.Spec.NodesMax), 432},
		{"Spec.TasksPerNode", spec + unsafe.Offsetof(j.Spec.TasksPerNode), 448},
		{"Spec.Array", spec + unsafe.Offsetof(j.Spec.Array), 520},
		{"Spec.MailUser", spec + unsafe.Offsetof(j.Spec.MailUser), 584},
		{"Spec.Comment", spec + unsafe.Offsetof(j.Spec.Comment), 648},
		{"State", unsafe.Offsetof(j.State), 744},
		{"Alloc", unsafe.Offsetof(j.Alloc), 792},
		{"Attempt", unsafe.Offsetof(j.Attempt), 864},
		{"UpdateTime", unsafe.Offsetof(j.UpdateTime), 912},
		{"req.Milli", req + unsafe.Offsetof(j.req.Milli), 976},
		{"req.Site", req + unsafe.Offsetof(j.req.Site), 1024},
		{"acct", state + unsafe.Offsetof(j.jobState.acct), 1136},
		{"prio", state + unsafe.Offsetof(j.jobState.prio), 1192},
		{"plMilli", state + unsafe.Offsetof(j.jobState.plMilli), 1264},
		{"endB", state + unsafe.Offsetof(j.jobState.endB), 1304},
		{"box", state + unsafe.Offsetof(j.jobState.box), 1376},
	}
	// Records come from the allocator one by one (newJob). Where a record
	// starts within a line (its phase: 8 with Go's malloc header in front
	// of a large object with pointers) must be the same for every record,
	// or no fixed set of reads touches each line; the size class keeps it
	// so when it is a multiple of the line.
	phase := uintptr(unsafe.Pointer(newJobForLayout())) % cacheLine
	for i := 0; i < 256; i++ {
		if p := uintptr(unsafe.Pointer(newJobForLayout())) % cacheLine; p != phase {
			t.Fatalf("job records start at different places in a line (%d and %d bytes in): warmRecord cannot read each line", phase, p)
		}
	}
	size := unsafe.Sizeof(j)
	lines := int((phase + size + cacheLine - 1) / cacheLine)
	if size != 1392 || lines != len(reads) {
		t.Errorf("job record is %d bytes on %d lines (starting %d bytes into one), want 1392 bytes on %d lines, one read each", size, lines, phase, len(reads))
	}
	read := make([]string, lines)
	for _, r := range reads {
		if r.got != r.want {
			t.Errorf("%s at offset %d, warmRecord's comment says %d", r.name, r.got, r.want)
		}
		if r.got >= size {
			t.Errorf("%s at offset %d is past the record's %d bytes", r.name, r.got, size)
			continue
		}
		l := int((phase + r.got) / cacheLine)
		if read[l] != "" {
			t.Errorf("%s and %s read the same line %d", read[l], r.name, l)
		}
		read[l] = r.name
	}
	for l, name := range read {
		if name == "" {
			lo := max(int64(l*cacheLine)-int64(phase), 0)
			t.Errorf("the record's line %d (from its byte %d) is not read", l, lo)
		}
	}
}

// sink keeps the records the alignment check allocates on the heap.
var sink []*job

func newJobForLayout() *job {
	j := &job{}
	sink = append(sink, j)
	return j
}
