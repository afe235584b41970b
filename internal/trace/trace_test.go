package trace

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// drain reads every job of r.
func drain(t *testing.T, r Reader) []Job {
	t.Helper()
	var jobs []Job
	for {
		j, err := r.Next()
		if err == io.EOF {
			return jobs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		jobs = append(jobs, j)
	}
}

func TestPhillyFull(t *testing.T) {
	// The whole published job table, gzipped into testdata (see SOURCES.md).
	p, err := OpenPhilly("testdata/philly.csv.gz", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	jobs := drain(t, p)
	if len(jobs) != 82247 {
		t.Fatalf("jobs = %d, want 82,247 (the ATC'19 job table)", len(jobs))
	}
	one, tenants := 0, map[string]bool{}
	var first, last time.Duration = 1 << 62, 0
	for _, j := range jobs {
		if j.Devices == 1 {
			one++
		}
		tenants[j.Tenant] = true
		first, last = min(first, j.Submit), max(last, j.Submit)
	}
	if got := float64(one) / float64(len(jobs)); got < 0.931 || got > 0.933 {
		t.Errorf("single-GPU share = %.4f, want 0.932", got)
	}
	if len(tenants) != 15 {
		t.Errorf("virtual clusters = %d, want 15", len(tenants))
	}
	if span := (last - first).Hours() / 24; span < 107 || span > 109 {
		t.Errorf("span = %.1f days, want about 108", span)
	}
}

// phillySHA256 is the SHA-256 of shared/traces/philly/philly.csv, the
// full Philly trace the team keeps outside this repository (checked
// 2026-12-08). Tests read nothing outside the repository: the testdata
// copy is pinned to the same bytes instead.
const phillySHA256 = "ebffb3dd1589bdf4e7bcd74496201c5ded1d557d498ee14f560463f37ec353da"

// TestPhillyTestdataIsTheSharedTrace: testdata/philly.csv.gz decompresses
// to exactly the shared trace.
func TestPhillyTestdataIsTheSharedTrace(t *testing.T) {
	f, err := os.Open("testdata/philly.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != phillySHA256 {
		t.Errorf("testdata/philly.csv.gz holds %s, not the shared trace %s", got, phillySHA256)
	}
}

func TestPhillyRow(t *testing.T) {
	in := "timestamp,duration,num_gpus,gpu_time,cluster\n" +
		"2017-10-09 07:01:55,66.0,1,66.0,11cb48\n" +
		"2017-10-09 07:01:56,1.5,8,12,6214e9\n"
	p, err := NewPhilly(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, p)
	want := Job{Line: 2, Submit: 35*24*time.Hour + 7*time.Hour + 1*time.Minute + 55*time.Second,
		Duration: 66 * time.Second, Accelerators: 1000, Devices: 1, Tenant: "11cb48"}
	if len(jobs) != 2 || !equalJob(jobs[0], want) {
		t.Fatalf("got %+v, want %+v", jobs, want)
	}
	if jobs[1].Accelerators != 8000 || jobs[1].Duration != 1500*time.Millisecond || jobs[1].Line != 3 {
		t.Errorf("second job = %+v", jobs[1])
	}
}

func equalJob(a, b Job) bool {
	return a.Line == b.Line && a.Submit == b.Submit && a.Duration == b.Duration &&
		a.Accelerators == b.Accelerators && a.Devices == b.Devices && a.Tenant == b.Tenant
}

func TestBadRows(t *testing.T) {
	in := "timestamp,duration,num_gpus,gpu_time,cluster\n" +
		"2017-10-09 07:01:55,66.0,1,66.0,vc1\n" + // line 2 ok
		"yesterday,66.0,1,66.0,vc1\n" + // line 3 bad time
		"2017-10-09 07:01:55,-1,1,66.0,vc1\n" + // line 4 negative duration
		"\n" + // line 5 blank, ignored
		"2017-10-09 07:01:55,5,0,0,vc1\n" + // line 6 zero GPUs
		"2017-10-09 07:01:55,5,\"2,x\n" + // line 7 unterminated quote eats the rest
		""
	p, err := NewPhilly(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, p)
	if len(jobs) != 1 {
		t.Fatalf("jobs = %d, want 1", len(jobs))
	}
	bad := p.Bad()
	var lines []int
	for _, e := range bad.Sample {
		lines = append(lines, e.Line)
	}
	if bad.Count != 4 || len(lines) != 4 || lines[0] != 3 || lines[1] != 4 || lines[2] != 6 || lines[3] != 7 {
		t.Fatalf("bad = %d at lines %v, want 4 at [3 4 6 7]", bad.Count, lines)
	}

	// Strict: the first bad row ends the stream with its line number.
	p, _ = NewPhilly(strings.NewReader(in), Options{Strict: true})
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	_, err = p.Next()
	var re *RowError
	if !errors.As(err, &re) || re.Line != 3 || !strings.Contains(err.Error(), "line 3: timestamp") {
		t.Fatalf("strict error = %v, want line 3 timestamp", err)
	}
}

func TestMissingColumn(t *testing.T) {
	_, err := NewCSV(strings.NewReader("submit_s,accelerators\n1,2\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `missing column "duration_s"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewCSV(strings.NewReader(""), Options{}); err == nil {
		t.Fatal("empty file accepted")
	}
}

func TestCSV(t *testing.T) {
	in := "tenant,submit_s,duration_s,accelerators,org_kind,model,walltime_s,residency,preemptible,extra\n" +
		"lab-a,0,3600,8,research,H100|A100,7200,DE|fr,true,x\n" +
		"start,10.5,60,0.25,startup,,,,,\n" +
		"start,11,60,1.5,startup,,,,,\n" + // fractional beyond one device
		"start,11,60,1,galaxy,,,,,\n" + // unknown org kind
		"start,11,60,1,,,,DEU,,\n" + // bad residency
		"start,11,60,1,,,,,maybe,\n" // bad bool
	c, err := NewCSV(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, c)
	if len(jobs) != 2 {
		t.Fatalf("jobs = %d, want 2 (bad: %+v)", len(jobs), c.Bad().Sample)
	}
	a := jobs[0]
	if a.Tenant != "lab-a" || a.OrgKind != core.OrgResearch || a.Model != "H100|A100" || a.Walltime != 2*time.Hour ||
		len(a.Residency) != 2 || a.Residency[1] != "FR" || !a.Preemptible || a.Devices != 8 || a.Accelerators != 8000 {
		t.Errorf("job 1 = %+v", a)
	}
	b := jobs[1]
	if b.Submit != 10500*time.Millisecond || b.Accelerators != 250 || b.Devices != 1 || b.PerDevice() != 250 || b.Residency != nil {
		t.Errorf("job 2 = %+v", b)
	}
	if c.Bad().Count != 4 {
		t.Errorf("bad = %d, want 4", c.Bad().Count)
	}
	for i, want := range []int{4, 5, 6, 7} {
		if c.Bad().Sample[i].Line != want {
			t.Errorf("bad[%d] at line %d, want %d", i, c.Bad().Sample[i].Line, want)
		}
	}
}

func TestOpenbFull(t *testing.T) {
	nodes, bad, err := OpenNodes("testdata/openb_node_list_gpu_node.csv.gz", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	gpus := 0
	for _, n := range nodes {
		gpus += n.GPUs
	}
	if len(nodes) != 1213 || gpus != 6212 || bad.Count != 0 {
		t.Fatalf("nodes = %d, GPUs = %d, bad = %d; want 1,213 nodes, 6,212 GPUs", len(nodes), gpus, bad.Count)
	}
	p, err := OpenPods("testdata/openb_pod_list_default.csv.gz", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pods := drain(t, p)
	if len(pods) != 8152 {
		t.Fatalf("pods = %d, want 8,152", len(pods))
	}
	var shared, cpuOnly int
	var req core.Milli
	prev := time.Duration(0)
	for _, j := range pods {
		if j.Submit < prev {
			t.Fatalf("pod %s at line %d out of creation_time order", j.Name, j.Line)
		}
		prev = j.Submit
		if j.Devices == 0 {
			cpuOnly++
		}
		if j.Devices == 1 && j.Accelerators < 1000 {
			shared++
		}
		req += j.Accelerators
	}
	if f := float64(cpuOnly) / 8152; f < 0.132 || f > 0.134 {
		t.Errorf("CPU-only share %.3f, want 0.133", f)
	}
	if shared == 0 {
		t.Error("no GPU-sharing pods")
	}
	// "Total request about 98% of the cluster's GPUs."
	if f := float64(req) / 6212000; f < 0.95 || f > 1.0 {
		t.Errorf("total request %.3f of capacity, want about 0.98", f)
	}
}

func TestOpenbRows(t *testing.T) {
	in := "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,creation_time,deletion_time,scheduled_time\n" +
		"p0,6000,12288,1,460,V100M16|V100M32,100,400,150\n" +
		"p1,6000,12288,0,460,,100,400,150\n" + // milli without GPUs
		"p2,6000,12288,2,500,,100,400,150\n" + // shared multi-GPU
		"p3,6000,12288,1,1001,,100,400,150\n" + // over one GPU
		"p4,6000,12288,8,1000,,100,50,100\n" // deleted before scheduled
	p, err := NewPods(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs := drain(t, p)
	if len(jobs) != 1 || p.Bad().Count != 4 {
		t.Fatalf("jobs = %d bad = %d, want 1 and 4", len(jobs), p.Bad().Count)
	}
	j := jobs[0]
	if j.Model != "V100M16|V100M32" || j.Accelerators != 460 || j.Submit != 100*time.Second || j.Duration != 250*time.Second || j.CPUMilli != 6000 {
		t.Errorf("pod = %+v", j)
	}
}

func TestOpen(t *testing.T) {
	for _, spec := range []string{"philly", "philly:", "nope:x", "openb:onlyone"} {
		if _, err := Open(spec, Options{}); err == nil {
			t.Errorf("Open(%q) accepted", spec)
		}
	}
	s, err := Open("openb:testdata/openb_node_list_gpu_node.csv.gz,testdata/openb_pod_list_default.csv.gz", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if j, err := s.Next(); err != nil || j.Name != "openb-pod-0000" {
		t.Fatalf("first pod = %+v, %v", j, err)
	}
}
