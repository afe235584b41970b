package trace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
)

// fuzzReader checks the invariants every reader keeps on any input: no
// panic, a bounded number of results, every job well-formed, and strict mode
// failing exactly when lenient mode skips.
func fuzzReader(t *testing.T, data []byte, open func(io.Reader, Options) (Reader, func() BadRows, error)) {
	lenient, bad, err := open(bytes.NewReader(data), Options{})
	if err != nil {
		return // header errors are reported, which is all we ask
	}
	n := 0
	for {
		j, err := lenient.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("lenient Next: %v", err)
		}
		n++
		if j.Line < 2 || j.Submit < 0 || j.Duration < 0 || j.Accelerators < 0 || j.Devices < 0 {
			t.Fatalf("bad job %+v", j)
		}
		if j.Devices > 1 && j.Accelerators != 1000*Milli(j.Devices) {
			t.Fatalf("multi-device job not whole: %+v", j)
		}
		if j.Devices == 0 && j.Accelerators != 0 {
			t.Fatalf("accelerators without devices: %+v", j)
		}
		if n > len(data) {
			t.Fatal("more jobs than bytes")
		}
	}
	b := bad()
	for _, e := range b.Sample {
		if e.Line < 1 {
			t.Fatalf("bad row without a line: %v", e)
		}
	}
	strict, _, err := open(bytes.NewReader(data), Options{Strict: true})
	if err != nil {
		t.Fatalf("strict open failed where lenient did not: %v", err)
	}
	m := 0
	for {
		_, err := strict.Next()
		if err == io.EOF {
			if b.Count != 0 {
				t.Fatalf("strict read to the end but lenient skipped %d", b.Count)
			}
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			if b.Count == 0 || re.Line != b.Sample[0].Line {
				t.Fatalf("strict failed at %v; lenient skipped %d (%v)", err, b.Count, b.Sample)
			}
			break
		}
		if err != nil {
			t.Fatalf("strict Next: %v", err)
		}
		m++
	}
	if m > n {
		t.Fatalf("strict read %d jobs, lenient %d", m, n)
	}
}

// Milli is a local alias so the invariants read naturally.
type Milli = core.Milli

func addSeeds(f *testing.F, files ...string) {
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// A few rows: the fuzzer minimises every interesting input, and
		// minimising kilobytes stalls it for minutes.
		if len(b) > 512 {
			b = b[:512]
		}
		f.Add(b)
	}
}

func FuzzPhilly(f *testing.F) {
	addSeeds(f, "testdata/philly_sample.csv")
	f.Add([]byte("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"))
	f.Add([]byte("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,NaN,1e9,x,\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, func(r io.Reader, o Options) (Reader, func() BadRows, error) {
			p, err := NewPhilly(r, o)
			if err != nil {
				return nil, nil, err
			}
			return p, p.Bad, nil
		})
	})
}

func FuzzOpenb(f *testing.F) {
	addSeeds(f, "testdata/openb_pod_sample.csv")
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,460\n"))
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,creation_time,deletion_time,scheduled_time\np,1,1,2,1000,A|,5,3,4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, func(r io.Reader, o Options) (Reader, func() BadRows, error) {
			p, err := NewPods(r, o)
			if err != nil {
				return nil, nil, err
			}
			return p, p.Bad, nil
		})
		// The node list parser shares the row machinery; it must not panic
		// and must return whole nodes.
		nodes, _, err := ReadNodes(bytes.NewReader(data), Options{})
		if err == nil {
			for _, n := range nodes {
				if n.GPUs < 0 || n.Name == "" || (n.GPUs > 0 && n.Model == "") {
					t.Fatalf("bad node %+v", n)
				}
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	addSeeds(f, "testdata/canonical_sample.csv")
	f.Add([]byte("submit_s,duration_s,accelerators\n0,1,0.25\n"))
	f.Add([]byte("submit_s,duration_s,accelerators,residency,preemptible,org_kind\n1e308,1,99999999,DE|,yes,sme\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data, func(r io.Reader, o Options) (Reader, func() BadRows, error) {
			c, err := NewCSV(r, o)
			if err != nil {
				return nil, nil, err
			}
			return c, c.Bad, nil
		})
	})
}
