package slurm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/google/go-cmp/cmp"
)

func intp(i int) *int { return &i }

func TestMapState(t *testing.T) {
	tests := map[string]struct {
		job  jobInfo
		want outcome
	}{
		"pending":            {jobInfo{State: "PENDING", Reason: "Resources"}, outcome{}},
		"pending never":      {jobInfo{State: "PENDING", Reason: "PartitionNodeLimit"}, outcome{State: core.StateFailed, Never: true, Reason: "refused by Slurm: more nodes than the partition has (PartitionNodeLimit)"}},
		"configuring":        {jobInfo{State: "CONFIGURING"}, outcome{}},
		"completing":         {jobInfo{State: "COMPLETING", ExitStatus: 256}, outcome{}},
		"running":            {jobInfo{State: "RUNNING"}, outcome{State: core.StateRunning}},
		"suspended":          {jobInfo{State: "SUSPENDED"}, outcome{State: core.StateRunning}},
		"completed":          {jobInfo{State: "COMPLETED"}, outcome{State: core.StateCompleted, ExitCode: intp(0)}},
		"failed exit 3":      {jobInfo{State: "FAILED", Reason: "NonZeroExitCode", ExitStatus: 768}, outcome{State: core.StateFailed, ExitCode: intp(3), Reason: "exit code 3"}},
		"failed by signal":   {jobInfo{State: "FAILED", ExitStatus: 9}, outcome{State: core.StateFailed, Signal: "SIGKILL", Reason: "killed by SIGKILL"}},
		"bad constraints":    {jobInfo{State: "FAILED", Reason: "BadConstraints", ExitStatus: 1}, outcome{State: core.StateFailed, Reason: "refused by Slurm: constraints no node satisfies (BadConstraints)"}},
		"failed launch":      {jobInfo{State: "FAILED", Reason: "JobLaunchFailure", ExitStatus: 256}, outcome{State: core.StateFailed, ExitCode: intp(1), Reason: "Slurm: JobLaunchFailure"}},
		"cancelled":          {jobInfo{State: "CANCELLED", ExitStatus: 15}, outcome{State: core.StateCancelled, Signal: "SIGTERM", Reason: "cancelled"}},
		"timeout":            {jobInfo{State: "TIMEOUT", ExitStatus: 0}, outcome{State: core.StateTimeout, ExitCode: intp(0), Reason: "walltime exceeded"}},
		"node fail":          {jobInfo{State: "NODE_FAIL", Nodes: "node[1-2]"}, outcome{State: core.StateFailed, Reason: "node failure on node[1-2]"}},
		"oom":                {jobInfo{State: "OUT_OF_MEMORY", ExitStatus: 0}, outcome{State: core.StateFailed, ExitCode: intp(0), Reason: "out of memory"}},
		"preempted":          {jobInfo{State: "PREEMPTED"}, outcome{State: core.StateFailed, Reason: "preempted by Slurm"}},
		"requeued":           {jobInfo{State: "REQUEUED"}, outcome{}},
		"unknown":            {jobInfo{State: "WHATEVER"}, outcome{}},
		"completed nonzero?": {jobInfo{State: "COMPLETED", ExitStatus: 512}, outcome{State: core.StateFailed, ExitCode: intp(2)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := mapState(tc.job)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mapState(%+v) (-want +got):\n%s", tc.job, diff)
			}
		})
	}
}

func TestParseGres(t *testing.T) {
	tests := map[string][]gpuGres{
		"gpu:h100:8":                       {{"h100", 8}},
		"gpu:a100:4(S:0)":                  {{"a100", 4}},
		"gpu:4":                            {{"", 4}},
		"gpu":                              {{"", 1}},
		"gpu:h100:8,gpu:a100:2(S:0-1)":     {{"h100", 8}, {"a100", 2}},
		"gpu:a100:4(S:0),nic:1":            {{"a100", 4}},
		"gpu:a100:2(IDX:0,2),gpu:v100:1":   {{"a100", 2}, {"v100", 1}},
		"":                                 nil,
		"(null)":                           nil,
		"nic:2":                            nil,
		"gpu:tesla:0":                      nil,
		"gpu:h100:1K":                      {{"h100", 1024}},
		"  gpu:mi300x:8(S:0-1) ":           {{"mi300x", 8}},
		"gpu:a100_3g.20gb:7(S:0),gpu:a100": {{"a100_3g.20gb", 7}, {"a100", 1}},
	}
	for in, want := range tests {
		got, err := parseGres(in)
		if err != nil {
			t.Errorf("parseGres(%q): %v", in, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseGres(%q) (-want +got):\n%s", in, diff)
		}
	}
	if _, err := parseGres("gpu:h100:x"); err == nil {
		t.Error("bad count accepted")
	}
}

func FuzzParseGres(f *testing.F) {
	for _, s := range []string{"gpu:h100:8", "gpu:a100:4(S:0),nic:1", "gpu:2(IDX:0,1)", "(", "gpu::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gs, err := parseGres(s)
		if err != nil {
			return
		}
		for _, g := range gs {
			if g.Count <= 0 {
				t.Errorf("parseGres(%q) gave a non-positive count %d", s, g.Count)
			}
		}
	})
}

func TestTagRoundTrip(t *testing.T) {
	tg := tag{ID: 123, Attempt: 2}
	if got, ok := parseTag("gf", tg.comment("gf")); !ok || got != tg {
		t.Errorf("round trip = %v, %v", got, ok)
	}
	if tg.name("gf") != "gf-123" || tg.comment("gf") != "gf:123:2" {
		t.Errorf("name %q comment %q", tg.name("gf"), tg.comment("gf"))
	}
	for _, bad := range []string{"", "gf", "gf:", "gf:x:1", "gf:1", "gf:-1:0", "gf:1:-1", "gfx:1:0", "other:1:0"} {
		if _, ok := parseTag("gf", bad); ok {
			t.Errorf("parseTag(%q) accepted", bad)
		}
	}
	if got, ok := parseTag("gf", "gf:7:0:extra"); !ok || got != (tag{7, 0}) {
		t.Errorf("extra fields: %v %v", got, ok)
	}
}

func FuzzParseTag(f *testing.F) {
	f.Add("gf:1:0")
	f.Add("gf:99999999999:3:x")
	f.Fuzz(func(t *testing.T, s string) {
		tg, ok := parseTag("gf", s)
		if !ok {
			return
		}
		if back, ok := parseTag("gf", tg.comment("gf")); !ok || back != tg {
			t.Errorf("%q -> %v does not round-trip", s, tg)
		}
	})
}

func TestSignalArg(t *testing.T) {
	for in, want := range map[string]string{"USR1": "SIGUSR1", "sigterm": "SIGTERM", "SIGKILL": "SIGKILL", "10": "10", "cont": "SIGCONT"} {
		if got, err := signalArg(in); err != nil || got != want {
			t.Errorf("signalArg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "99", "SIG"} {
		if _, err := signalArg(bad); err == nil {
			t.Errorf("signalArg(%q) accepted", bad)
		}
	}
}

func jwtWithExp(exp time.Time) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(map[string]any{"exp": exp.Unix(), "iat": exp.Add(-time.Hour).Unix(), "sun": "u"})
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".c2lnbmF0dXJl"
}

func TestTokenSource(t *testing.T) {
	ctx := context.Background()
	exp := time.Unix(2_000_000_000, 0)
	tok := jwtWithExp(exp)
	if got := jwtExpiry(tok); !got.Equal(exp) {
		t.Errorf("jwtExpiry = %v, want %v", got, exp)
	}
	if !jwtExpiry("not.a.jwt").IsZero() || !jwtExpiry("abc").IsZero() {
		t.Error("garbage has an expiry")
	}
	for in, want := range map[string]secret{
		"SLURM_JWT=abc\n":         "abc",
		"export SLURM_JWT='abc'":  "abc",
		"\n  abc  \n":             "abc",
		"# note\nSLURM_JWT=abc\n": "abc",
		"":                        "",
	} {
		if got := parseToken([]byte(in)); got != want {
			t.Errorf("parseToken(%q) = %q, want %q", in, string(got), string(want))
		}
	}

	// A file is re-read when it changes, and when its token nears expiry.
	file := filepath.Join(t.TempDir(), "tok")
	now := exp.Add(-time.Hour)
	os.WriteFile(file, []byte("SLURM_JWT="+tok+"\n"), 0o600)
	s := &tokenSource{file: file, now: func() time.Time { return now }}
	if got, err := s.get(ctx); err != nil || string(got) != tok {
		t.Fatalf("get = %v", err)
	}
	tok2 := jwtWithExp(exp.Add(time.Hour))
	os.WriteFile(file, []byte(tok2), 0o600)
	os.Chtimes(file, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if got, _ := s.get(ctx); string(got) != tok2 {
		t.Error("changed file not re-read")
	}
	// A command runs again shortly before its token expires.
	dir := t.TempDir()
	cmd := fmt.Sprintf("echo x >> %s/runs; echo SLURM_JWT=%s", dir, tok)
	s = &tokenSource{command: cmd, now: func() time.Time { return now }}
	s.get(ctx)
	s.get(ctx)
	now = exp.Add(-30 * time.Second) // inside the refresh margin
	s.get(ctx)
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if n := strings.Count(string(b), "x"); n != 2 {
		t.Errorf("command ran %d times, want 2 (once, then again near expiry)", n)
	}
	// A failing command's error does not carry its output (the secret).
	s = &tokenSource{command: "echo SLURM_JWT=topsecret; exit 3", now: time.Now}
	if _, err := s.get(ctx); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("failing command: %v", err)
	}
	// Static tokens cannot be refreshed.
	if (&tokenSource{static: "x"}).invalidate() {
		t.Error("a fixed token claims to be refreshable")
	}
}

func TestSecretNeverFormatted(t *testing.T) {
	s := secret("eyJhbGciOi.topsecret.sig")
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "token", s, "src", &tokenSource{static: s, tok: s})
	src := &tokenSource{static: s, tok: s}
	out := fmt.Sprintf("%v %s %q %#v %+v %v", s, s, s, s, src, src) + buf.String()
	if b, _ := json.Marshal(struct{ T secret }{s}); true {
		out += string(b)
	}
	if strings.Contains(out, "topsecret") {
		t.Errorf("secret leaked: %s", out)
	}
}

func TestPickDialect(t *testing.T) {
	paths := []string{"/slurm/v0.0.38/jobs", "/slurm/v0.0.37/jobs", "/openapi/v3"}
	if d, err := pickDialect(paths, ""); err != nil || d.Version() != "v0.0.38" {
		t.Errorf("pick = %v, %v", d, err)
	}
	if _, err := pickDialect([]string{"/slurm/v0.0.41/jobs"}, ""); err == nil || !strings.Contains(err.Error(), "v0.0.41") {
		t.Errorf("no common version: %v", err)
	}
	if _, err := pickDialect(paths, "v0.0.40"); err == nil {
		t.Error("a forced version the server lacks was accepted")
	}
}

// TestSubmitBody pins the v0.0.38 request a placed job becomes.
func TestSubmitBody(t *testing.T) {
	d, err := New(core.Site{ID: "s", DriverOptions: map[string]string{
		"url": "http://127.0.0.1:1", "user": "u", "token": "t", "partition": "batch", "output_dir": "/logs", "workdir": "/w",
	}})
	if err != nil {
		t.Fatal(err)
	}
	job := core.Job{ID: 42, Attempt: 1, Project: "climate",
		Spec: core.JobSpec{Command: []string{"python", "train.py", "--name", "it's"}, Walltime: core.Duration(90*time.Second + time.Hour),
			Env: map[string]string{"A": "1"}, Model: "H100", CPUsPerAccel: 4},
		Alloc: &core.Allocation{Nodes: []core.NodeAlloc{{Node: "a", Accels: []int{0, 1, 2, 3}}, {Node: "b", Accels: []int{0, 1, 2, 3}}}}}
	req, err := d.request(context.Background(), v0038{}, job)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v0038{}.SubmitBody(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{
		"script": "#!/bin/bash\n# written by Gigafactory's slurm driver\n[ -n \"$SLURM_JOB_ACCOUNT\" ] || export SLURM_JOB_ACCOUNT=climate\nexec srun --ntasks-per-node=1 python train.py --name 'it'\\''s'\n",
		"job": map[string]any{
			"name": "gf-42", "comment": "gf:42:1", "partition": "batch", "wckey": "climate",
			"nodes": "2", "tasks": 2.0, "tasks_per_node": 1.0, "cpus_per_task": 16.0, "gres": "gpu:h100:4",
			"time_limit": 62.0, "requeue": false, "current_working_directory": "/w",
			"standard_output": "/logs/slurm-%j.out",
			"environment": map[string]any{"A": "1", "GF_JOB_ID": "42", "GF_JOB_NAME": "", "GF_ATTEMPT": "1",
				"PATH": "/usr/local/bin:/usr/bin:/bin", "SLURM_SUBMIT_DIR": "/w"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("submit body (-want +got):\n%s", diff)
	}
}

func TestOptions(t *testing.T) {
	bad := map[string]map[string]string{
		"no url":     {"user": "u", "token": "t"},
		"no user":    {"url": "http://h:1", "token": "t"},
		"no token":   {"url": "http://h:1", "user": "u"},
		"two tokens": {"url": "http://h:1", "user": "u", "token": "t", "token_file": "/f"},
		"timeout":    {"url": "http://h:1", "user": "u", "token": "t", "timeout": "soon"},
		"project_as": {"url": "http://h:1", "user": "u", "token": "t", "project_as": "qos"},
	}
	for name, o := range bad {
		if _, err := New(core.Site{ID: "s", DriverOptions: o}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\"t\"") {
			t.Errorf("%s: error shows the token: %v", name, err)
		}
	}
}

func TestPoolsOf(t *testing.T) {
	nodes := []nodeInfo{
		{Name: "a1", Partitions: []string{"gpu"}, Gres: "gpu:h100:4(S:0)", CPUs: 64, MemMiB: 500000},
		{Name: "a2", Partitions: []string{"gpu", "all"}, Gres: "gpu:h100:4(S:0)", CPUs: 32, MemMiB: 400000},
		{Name: "b1", Partitions: []string{"mixed"}, Gres: "gpu:a100:8", CPUs: 64},
		{Name: "b2", Partitions: []string{"mixed"}, Gres: "gpu:l40s:2"},
		{Name: "c1", Partitions: []string{"cpu"}, Gres: ""},
	}
	pools, shapes, err := poolsOf(nodes)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.Pool{
		{Name: "gpu", Model: "h100", AccelPerNode: 4, Nodes: 2, CPUsPerNode: 32, MemMiBPerNode: 400000},
		{Name: "mixed-a100-8", Model: "a100", AccelPerNode: 8, Nodes: 1, CPUsPerNode: 64},
		{Name: "mixed-l40s-2", Model: "l40s", AccelPerNode: 2, Nodes: 1},
	}
	if diff := cmp.Diff(want, pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
	if s := shapes["mixed-l40s-2"]; s.Partition != "mixed" || s.GPUType != "l40s" {
		t.Errorf("shape = %+v", s)
	}
}

func TestRequestErrorText(t *testing.T) {
	e := &requestError{Op: "list jobs", Status: 500, Errors: []apiError{{Number: -1, Error: "Unspecified error", Description: "Failed while looking for jobs"}}}
	if got := e.Error(); !strings.Contains(got, "expired token") || !strings.Contains(got, "Failed while looking for jobs") {
		t.Errorf("auth-like 500: %q", got)
	}
	e = &requestError{Op: "get job", Status: 500, Errors: []apiError{{Number: esInvalidJobID, Error: "Invalid job id specified"}}}
	if got := e.Error(); strings.Contains(got, "token") || !e.final() || !e.has(esInvalidJobID) {
		t.Errorf("definite error: %q final=%v", got, e.final())
	}
}

// TestSubmitBodyDirectives: a batch script's sbatch directives reach the
// v0.0.38 job description, and an array task's variables its environment.
func TestSubmitBodyDirectives(t *testing.T) {
	d, err := New(core.Site{ID: "s", DriverOptions: map[string]string{
		"url": "http://127.0.0.1:1", "user": "u", "token": "t", "workdir": "/w", "allowed_roots": "/home",
	}})
	if err != nil {
		t.Fatal(err)
	}
	task := 7
	base := core.Job{ID: 43, Name: "sweep", ArrayJobID: 40, ArrayTaskID: &task,
		Spec: core.JobSpec{Script: "#!/bin/bash\nsrun hostname\n", SubmitDir: "/home/alice/proj",
			Nodes: 2, Tasks: 8, TasksPerNode: 4, CPUsPerTask: 2, Exclusive: true, Constraint: "mi250&ib",
			Signal: &core.JobSignal{Name: "USR1", Seconds: 120, BatchOnly: true}, Hint: "nomultithread",
			Comment: "run 3", Reservation: "maint", MailType: "END,FAIL", MailUser: "a@example.org",
			Export: "NONE,B", Env: map[string]string{"B": "2", "C": "3"},
			Array: &core.JobArray{Ranges: []core.ArrayRange{{First: 1, Last: 9, Step: 2}}}}}
	tests := map[string]struct {
		mem  func(*core.JobSpec)
		want map[string]any
	}{
		"per node":   {func(s *core.JobSpec) { s.MemMiBPerNode = 4096 }, map[string]any{"memory_per_node": 4096.0}},
		"whole node": {func(s *core.JobSpec) { s.MemAll = true }, map[string]any{"memory_per_node": 0.0}},
		"per cpu":    {func(s *core.JobSpec) { s.MemMiBPerCPU = 1000 }, map[string]any{"memory_per_cpu": 1000.0}},
	}
	for name, tc := range tests {
		job := base
		tc.mem(&job.Spec)
		req, err := d.request(context.Background(), v0038{}, job)
		if err != nil {
			t.Fatal(err)
		}
		b, err := v0038{}.SubmitBody(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Job map[string]any `json:"job"`
		}
		json.Unmarshal(b, &got)
		want := map[string]any{
			"nodes": "2", "tasks": 8.0, "tasks_per_node": 4.0, "cpus_per_task": 2.0, "exclusive": "exclusive",
			"constraints": "mi250&ib", "signal": "USR1@120", "cpu_binding_hint": "nomultithread",
			"comment": "gf:43:0:run 3", "reservation": "maint", "mail_type": "END,FAIL", "mail_user": "a@example.org",
			"current_working_directory": "/home/alice/proj", "standard_output": "/home/alice/proj/slurm-40_7.out",
			"environment": map[string]any{"B": "2", "PATH": "/usr/local/bin:/usr/bin:/bin", "GF_JOB_ID": "43",
				"GF_JOB_NAME": "sweep", "GF_ATTEMPT": "0", "SLURM_EXPORT_ENV": "NONE,B", "SLURM_SUBMIT_DIR": "/home/alice/proj", "SLURM_CPUS_PER_TASK": "2",
				"SLURM_ARRAY_JOB_ID": "40", "SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "5",
				"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9", "SLURM_ARRAY_TASK_STEP": "2"},
		}
		for k, v := range tc.want {
			want[k] = v
		}
		for k, v := range want {
			if diff := cmp.Diff(v, got.Job[k]); diff != "" {
				t.Errorf("%s: job.%s (-want +got):\n%s", name, k, diff)
			}
		}
		for _, k := range []string{"memory_per_node", "memory_per_cpu", "standard_error"} {
			if _, ok := got.Job[k]; ok && tc.want[k] == nil {
				t.Errorf("%s: job.%s = %v, want it unset", name, k, got.Job[k])
			}
		}
	}
}

func TestWithIdentity(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"#!/bin/bash\n#SBATCH -J x\n\necho hi\n", "#!/bin/bash\n#SBATCH -J x\n\nexport SLURM_JOB_NAME='my job' # the job's name, as submitted to Gigafactory\n[ -n \"$SLURM_JOB_ACCOUNT\" ] || export SLURM_JOB_ACCOUNT=p1\necho hi\n"},
		{"#!/bin/sh\n#SBATCH -J x", "#!/bin/sh\n#SBATCH -J x\nexport SLURM_JOB_NAME='my job' # the job's name, as submitted to Gigafactory\n[ -n \"$SLURM_JOB_ACCOUNT\" ] || export SLURM_JOB_ACCOUNT=p1\n"},
	} {
		if got := withIdentity(c.in, "my job", "p1"); got != c.want {
			t.Errorf("withIdentity(%q) =\n%q\nwant\n%q", c.in, got, c.want)
		}
	}
}
