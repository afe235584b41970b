package trace

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// PhillyEpoch is the zero of Philly submit times: midnight UTC before the
// trace's first job (2017-09-04 10:30:41).
var PhillyEpoch = time.Date(2017, 9, 4, 0, 0, 0, 0, time.UTC)

// maxDevices bounds a single request (Philly's largest job has 128 GPUs).
const maxDevices = 1 << 20

// Philly reads the Philly job table (timestamp,duration,num_gpus,gpu_time,
// cluster). The virtual cluster is the tenant. The file is not in submit
// order: callers that need arrival order sort what they read.
type Philly struct{ *rows }

// NewPhilly reads a Philly job table from r.
func NewPhilly(r io.Reader, opts Options) (*Philly, error) {
	rs, err := newRows(r, opts, "timestamp", "duration", "num_gpus", "cluster")
	if err != nil {
		return nil, err
	}
	return &Philly{rs}, nil
}

// OpenPhilly opens a Philly job table file (".gz" allowed).
func OpenPhilly(path string, opts Options) (*Philly, error) {
	return openReader(path, opts, NewPhilly)
}

// Next returns the next job in file order.
func (p *Philly) Next() (Job, error) { return p.nextJob(p.parse) }

func (p *Philly) parse(rec []string) (Job, error) {
	ts := p.field(rec, "timestamp")
	t, err := time.Parse(time.DateTime, ts)
	if err != nil {
		return Job{}, fmt.Errorf("timestamp: want YYYY-MM-DD HH:MM:SS, got %q", ts)
	}
	if t.Before(PhillyEpoch) || t.Sub(PhillyEpoch) > maxSeconds*time.Second {
		return Job{}, fmt.Errorf("timestamp %q outside the trace's range", ts)
	}
	d, err := seconds(p.field(rec, "duration"))
	if err != nil {
		return Job{}, fmt.Errorf("duration: %w", err)
	}
	n, err := integer(p.field(rec, "num_gpus"), maxDevices)
	if err != nil {
		return Job{}, fmt.Errorf("num_gpus: %w", err)
	}
	if n == 0 {
		return Job{}, errors.New("num_gpus: 0 (Philly lists GPU jobs only)")
	}
	vc := p.field(rec, "cluster")
	if vc == "" {
		return Job{}, errors.New("cluster: empty")
	}
	return Job{
		Line:         p.line,
		Submit:       t.Sub(PhillyEpoch),
		Duration:     d,
		Accelerators: core.Milli(n * 1000),
		Devices:      int(n),
		Tenant:       vc,
	}, nil
}
