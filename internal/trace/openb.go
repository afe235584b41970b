package trace

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Node is one machine of an openb node list.
type Node struct {
	Line     int
	Name     string // the sn column
	CPUMilli int64
	MemMiB   int64
	GPUs     int
	Model    string // GPU model ("V100M16", "T4"); "" for CPU-only nodes
}

// ReadNodes reads an openb node list (sn,cpu_milli,memory_mib,gpu,model).
// Node lists are small (1,523 rows), so it returns them all; bad rows are
// skipped and reported in the BadRows, or fatal with opts.Strict.
func ReadNodes(r io.Reader, opts Options) ([]Node, BadRows, error) {
	rs, err := newRows(r, opts, "sn", "cpu_milli", "memory_mib", "gpu")
	if err != nil {
		return nil, BadRows{}, err
	}
	var nodes []Node
	for {
		rec, err := rs.next()
		if err == io.EOF {
			return nodes, rs.bad, nil
		}
		if err != nil {
			return nil, rs.bad, err
		}
		n, err := parseNode(rs, rec)
		if err != nil {
			if ferr := rs.fail(err); ferr != nil {
				return nil, rs.bad, ferr
			}
			continue
		}
		nodes = append(nodes, n)
	}
}

// OpenNodes reads an openb node list file (".gz" allowed).
func OpenNodes(path string, opts Options) ([]Node, BadRows, error) {
	f, c, err := openFile(path)
	if err != nil {
		return nil, BadRows{}, err
	}
	defer c.Close()
	nodes, bad, err := ReadNodes(f, opts)
	if err != nil {
		return nil, bad, fmt.Errorf("%s: %w", path, err)
	}
	return nodes, bad, nil
}

func parseNode(rs *rows, rec []string) (Node, error) {
	n := Node{Line: rs.line, Name: rs.field(rec, "sn"), Model: rs.field(rec, "model")}
	if n.Name == "" {
		return Node{}, errors.New("sn: empty")
	}
	var err error
	if n.CPUMilli, err = integer(rs.field(rec, "cpu_milli"), 1<<40); err != nil {
		return Node{}, fmt.Errorf("cpu_milli: %w", err)
	}
	if n.MemMiB, err = integer(rs.field(rec, "memory_mib"), 1<<40); err != nil {
		return Node{}, fmt.Errorf("memory_mib: %w", err)
	}
	g, err := integer(rs.field(rec, "gpu"), 1024)
	if err != nil {
		return Node{}, fmt.Errorf("gpu: %w", err)
	}
	n.GPUs = int(g)
	if n.GPUs > 0 && n.Model == "" {
		return Node{}, errors.New("model: empty on a node with GPUs")
	}
	return n, nil
}

// Pods reads an openb pod list (name,cpu_milli,memory_mib,num_gpu,gpu_milli
// and optionally gpu_spec,qos,pod_phase,creation_time,deletion_time,
// scheduled_time). Jobs come in file order, which in the published lists is
// creation_time order. A pod with num_gpu = 1 and gpu_milli < 1000 shares a
// GPU; gpu_spec lists acceptable models ("V100M16|V100M32"). Submit is the
// creation time; Duration runs from scheduled_time (creation_time when
// absent) to deletion_time, and is 0 when the list has no times.
type Pods struct{ *rows }

// NewPods reads an openb pod list from r.
func NewPods(r io.Reader, opts Options) (*Pods, error) {
	rs, err := newRows(r, opts, "name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
	if err != nil {
		return nil, err
	}
	return &Pods{rs}, nil
}

// OpenPods opens an openb pod list file (".gz" allowed).
func OpenPods(path string, opts Options) (*Pods, error) {
	return openReader(path, opts, NewPods)
}

// Next returns the next pod.
func (p *Pods) Next() (Job, error) { return p.nextJob(p.parse) }

func (p *Pods) parse(rec []string) (Job, error) {
	j := Job{Line: p.line, Name: p.field(rec, "name"), Model: p.field(rec, "gpu_spec")}
	if j.Name == "" {
		return Job{}, errors.New("name: empty")
	}
	var err error
	if j.CPUMilli, err = integer(p.field(rec, "cpu_milli"), 1<<40); err != nil {
		return Job{}, fmt.Errorf("cpu_milli: %w", err)
	}
	if j.MemMiB, err = integer(p.field(rec, "memory_mib"), 1<<40); err != nil {
		return Job{}, fmt.Errorf("memory_mib: %w", err)
	}
	n, err := integer(p.field(rec, "num_gpu"), 1024)
	if err != nil {
		return Job{}, fmt.Errorf("num_gpu: %w", err)
	}
	milli, err := integer(p.field(rec, "gpu_milli"), 1000)
	if err != nil {
		return Job{}, fmt.Errorf("gpu_milli: %w", err)
	}
	switch {
	case n == 0 && milli != 0:
		return Job{}, fmt.Errorf("gpu_milli %d without num_gpu", milli)
	case n > 0 && milli == 0:
		return Job{}, fmt.Errorf("num_gpu %d with gpu_milli 0", n)
	case n > 1 && milli != 1000:
		return Job{}, fmt.Errorf("num_gpu %d with gpu_milli %d: only single-GPU pods share a GPU", n, milli)
	}
	j.Devices = int(n)
	j.Accelerators = core.Milli(n * milli)
	for _, m := range strings.Split(j.Model, "|") {
		if strings.TrimSpace(m) == "" && j.Model != "" {
			return Job{}, fmt.Errorf("gpu_spec: empty model in %q", j.Model)
		}
	}
	if !p.has("creation_time") {
		return j, nil
	}
	if j.Submit, err = seconds(p.field(rec, "creation_time")); err != nil {
		return Job{}, fmt.Errorf("creation_time: %w", err)
	}
	start := j.Submit
	if s := p.field(rec, "scheduled_time"); s != "" {
		if start, err = seconds(s); err != nil {
			return Job{}, fmt.Errorf("scheduled_time: %w", err)
		}
	}
	if d := p.field(rec, "deletion_time"); d != "" {
		end, err := seconds(d)
		if err != nil {
			return Job{}, fmt.Errorf("deletion_time: %w", err)
		}
		if end < start {
			return Job{}, fmt.Errorf("deletion_time %s before scheduled_time", d)
		}
		j.Duration = end - start
	}
	if j.Duration < 0 {
		j.Duration = 0
	}
	return j, nil
}
