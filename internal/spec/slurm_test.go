package spec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/google/go-cmp/cmp"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// TestScriptDirectives gives each sbatch directive a good value (and the
// spec it must give) and bad ones (and the error, naming file and line).
func TestScriptDirectives(t *testing.T) {
	good := map[string]struct {
		directives string
		want       core.JobSpec
		warnings   int
	}{
		"job name long":    {"--job-name=train", core.JobSpec{Name: "train"}, 0},
		"job name short":   {"-J train", core.JobSpec{Name: "train"}, 0},
		"account":          {"-A project_465000001", core.JobSpec{Project: "project_465000001"}, 0},
		"account long":     {"--account=p1", core.JobSpec{Project: "p1"}, 0},
		"partition":        {"-p standard-g", core.JobSpec{Partition: "standard-g"}, 0},
		"gf qos":           {"--qos=fast-lane", core.JobSpec{QoS: "fast-lane"}, 0},
		"site qos":         {"-q boost_qos_dbg", core.JobSpec{SiteQoS: "boost_qos_dbg"}, 1},
		"nodes":            {"-N4", core.JobSpec{Nodes: 4}, 0},
		"node range":       {"--nodes=2-4", core.JobSpec{Nodes: 2, NodesMax: 4}, 1},
		"ntasks":           {"-n 128", core.JobSpec{Tasks: 128}, 0},
		"ntasks long":      {"--ntasks=16", core.JobSpec{Tasks: 16}, 0},
		"ntasks per node":  {"--ntasks-per-node=8", core.JobSpec{TasksPerNode: 8}, 0},
		"cpus per task":    {"-c 7", core.JobSpec{CPUsPerTask: 7}, 0},
		"cpus joined":      {"-c7", core.JobSpec{CPUsPerTask: 7}, 0},
		"cpus long":        {"--cpus-per-task 32", core.JobSpec{CPUsPerTask: 32}, 0},
		"mem G":            {"--mem=64G", core.JobSpec{MemMiBPerNode: 65536}, 0},
		"mem plain MB":     {"--mem 16000", core.JobSpec{MemMiBPerNode: 16000}, 0},
		"mem K":            {"--mem=1025K", core.JobSpec{MemMiBPerNode: 2}, 0},
		"mem T":            {"--mem=1T", core.JobSpec{MemMiBPerNode: 1 << 20}, 0},
		"mem all":          {"--mem=0", core.JobSpec{MemAll: true}, 0},
		"mem per cpu":      {"--mem-per-cpu=1750M", core.JobSpec{MemMiBPerCPU: 1750}, 0},
		"mem per gpu":      {"--mem-per-gpu=60G", core.JobSpec{MemMiBPerAccel: 61440}, 0},
		"gpus":             {"-G 8", core.JobSpec{Accelerators: 8000}, 0},
		"gpus typed":       {"--gpus=a100:4", core.JobSpec{Accelerators: 4000, Model: "a100"}, 0},
		"gpus per node":    {"-N 2 --gpus-per-node=8", core.JobSpec{Nodes: 2, PerNode: 8, Accelerators: 16000}, 0},
		"gres":             {"--gres=gpu:4", core.JobSpec{Nodes: 1, PerNode: 4, Accelerators: 4000}, 0},
		"gres typed":       {"--gres=gpu:h100:4 -N 2", core.JobSpec{Nodes: 2, PerNode: 4, Accelerators: 8000, Model: "h100"}, 0},
		"gpus per task":    {"--ntasks=4 --gpus-per-task=1", core.JobSpec{Tasks: 4, AccelPerTask: 1, Accelerators: 4000}, 0},
		"gpus per task pn": {"-N 2 --ntasks-per-node=4 --gpus-per-task=2", core.JobSpec{Nodes: 2, TasksPerNode: 4, AccelPerTask: 2, PerNode: 8, Accelerators: 16000}, 0},
		"gpus per task 1":  {"--gpus-per-task=2", core.JobSpec{AccelPerTask: 2, Accelerators: 2000}, 0},
		"cpu only":         {"-N 1 -n 128 -c 1", core.JobSpec{Nodes: 1, Tasks: 128, CPUsPerTask: 1}, 0},
		"exclusive":        {"--exclusive", core.JobSpec{Exclusive: true}, 0},
		"constraint":       {"-C 'mi250&ib'", core.JobSpec{Constraint: "mi250&ib"}, 0},
		"constraint long":  {"--constraint=[a|b]", core.JobSpec{Constraint: "[a|b]"}, 0},
		"time hms":         {"-t 2:00:00", core.JobSpec{Walltime: core.Duration(2 * time.Hour)}, 0},
		"time minutes":     {"--time=30", core.JobSpec{Walltime: core.Duration(30 * time.Minute)}, 0},
		"time m:s":         {"--time=30:30", core.JobSpec{Walltime: core.Duration(30*time.Minute + 30*time.Second)}, 0},
		"time d-h":         {"--time=1-12", core.JobSpec{Walltime: core.Duration(36 * time.Hour)}, 0},
		"time d-h:m":       {"--time=1-00:30", core.JobSpec{Walltime: core.Duration(24*time.Hour + 30*time.Minute)}, 0},
		"time d-h:m:s":     {"-t 2-00:00:10", core.JobSpec{Walltime: core.Duration(48*time.Hour + 10*time.Second)}, 0},
		"time unlimited":   {"--time=UNLIMITED", core.JobSpec{}, 1},
		"output patterns":  {"-o %x-%j.out -e logs/%A_%a.%u.%N.err", core.JobSpec{Output: "%x-%j.out", Error: "logs/%A_%a.%u.%N.err"}, 0},
		"output width":     {"--output=out_%4a.txt", core.JobSpec{Output: "out_%4a.txt"}, 0},
		"output unknown":   {"--output=out_%q", core.JobSpec{Output: "out_%q"}, 1},
		"chdir":            {"-D /scratch/p1/run", core.JobSpec{WorkDir: "/scratch/p1/run"}, 0},
		"array range":      {"--array=0-9", core.JobSpec{Array: &core.JobArray{Ranges: []core.ArrayRange{{First: 0, Last: 9}}}}, 0},
		"array list":       {"-a 1,3,5", core.JobSpec{Array: &core.JobArray{Ranges: []core.ArrayRange{{First: 1, Last: 1}, {First: 3, Last: 3}, {First: 5, Last: 5}}}}, 0},
		"array step":       {"--array=0-99:2%4", core.JobSpec{Array: &core.JobArray{Ranges: []core.ArrayRange{{First: 0, Last: 99, Step: 2}}, Throttle: 4}}, 0},
		"dependency":       {"-d afterok:12:13", core.JobSpec{Dependency: &core.Dependency{Conditions: []core.DependencyCondition{{Type: "afterok", Jobs: []core.DependencyJob{{ID: "12"}, {ID: "13"}}}}}}, 0},
		"dependency any": {"--dependency=afternotok:12?afterany:14_3", core.JobSpec{Dependency: &core.Dependency{Any: true, Conditions: []core.DependencyCondition{
			{Type: "afternotok", Jobs: []core.DependencyJob{{ID: "12"}}}, {Type: "afterany", Jobs: []core.DependencyJob{{ID: "14_3"}}}}}}, 0},
		"dependency all": {"--dependency=after:12+5,singleton", core.JobSpec{Dependency: &core.Dependency{Conditions: []core.DependencyCondition{
			{Type: "after", Jobs: []core.DependencyJob{{ID: "12", Minutes: 5}}}, {Type: "singleton"}}}}, 0},
		"signal":           {"--signal=B:USR1@300", core.JobSpec{Signal: &core.JobSignal{Name: "USR1", Seconds: 300, BatchOnly: true}}, 0},
		"signal number":    {"--signal=10", core.JobSpec{Signal: &core.JobSignal{Name: "USR1", Seconds: 60}}, 0},
		"signal sig":       {"--signal=SIGTERM@120", core.JobSpec{Signal: &core.JobSignal{Name: "TERM", Seconds: 120}}, 0},
		"requeue":          {"--requeue", core.JobSpec{Requeue: yes()}, 0},
		"no requeue":       {"--no-requeue", core.JobSpec{Requeue: no()}, 0},
		"hint":             {"--hint=nomultithread", core.JobSpec{Hint: "nomultithread"}, 1},
		"mail":             {"--mail-type=END,FAIL --mail-user=a@example.eu", core.JobSpec{MailType: "END,FAIL", MailUser: "a@example.eu"}, 2},
		"export":           {"--export=ALL,OMP_NUM_THREADS=8", core.JobSpec{Export: "ALL,OMP_NUM_THREADS=8"}, 0},
		"export none":      {"--export=NONE", core.JobSpec{Export: "NONE"}, 0},
		"begin":            {"--begin=now+1hour", core.JobSpec{Begin: "now+1hour"}, 0},
		"begin date":       {"-b 2026-12-24T18:00", core.JobSpec{Begin: "2026-12-24T18:00"}, 0},
		"deadline":         {"--deadline=tomorrow", core.JobSpec{Deadline: "tomorrow"}, 0},
		"comment":          {`--comment="run 3 of 5"`, core.JobSpec{Comment: "run 3 of 5"}, 0},
		"reservation":      {"--reservation=maint_2026", core.JobSpec{Reservation: "maint_2026"}, 0},
		"gf qos strict ok": {"--qos=normal", core.JobSpec{QoS: "normal"}, 0},
	}
	for name, tc := range good {
		t.Run(name, func(t *testing.T) {
			in := "#!/bin/bash\n#SBATCH " + tc.directives + "\nsrun x\n"
			s, warnings, err := ParseScript("job.sh", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, s)
			s.Script, s.Name = "", ""
			if tc.want.Name != "" {
				s.Name = tc.want.Name
			}
			if diff := cmp.Diff(tc.want, s); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
			for _, w := range warnings {
				if !strings.HasPrefix(w, "job.sh:2: ") {
					t.Errorf("warning %q does not name job.sh:2", w)
				}
			}
		})
	}

	bad := map[string]struct {
		directives string
		want       string
	}{
		"ntasks zero":        {"-n 0", `job.sh:2: ntasks: want a whole number from 1 to 10000000, got "0"`},
		"ntasks word":        {"--ntasks=many", `job.sh:2: ntasks: want a whole number from 1 to 10000000, got "many"`},
		"cpus too many":      {"-c 5000", `job.sh:2: cpus-per-task: want a whole number from 1 to 4096, got "5000"`},
		"tasks per node":     {"--ntasks-per-node=0", `job.sh:2: ntasks-per-node: want a whole number from 1 to 4096, got "0"`},
		"mem suffix":         {"--mem=64X", `job.sh:2: mem: want a size such as 64G or 16000M, got "64X"`},
		"mem huge":           {"--mem=100000T", `job.sh:2: mem: must be at most 67108864 MiB, got "100000T"`},
		"mem per cpu zero":   {"--mem-per-cpu=0", `job.sh:2: mem-per-cpu: want a positive size such as 2G, got "0"`},
		"mem twice":          {"--mem=4G --mem-per-cpu=1G", "job.sh:2: mem-per-cpu: --mem-per-cpu and --mem (line 2) exclude each other, as in sbatch: give one"},
		"mem and per gpu":    {"--mem-per-gpu=4G --mem=1G", "job.sh:2: mem: --mem and --mem-per-gpu (line 2) exclude each other, as in sbatch: give one"},
		"exclusive value":    {"--exclusive=user", "job.sh:2: exclusive: only whole-node --exclusive is supported, got --exclusive=user"},
		"requeue value":      {"--requeue=yes", "job.sh:2: requeue: takes no value"},
		"gpus per task zero": {"--gpus-per-task=0", `job.sh:2: gpus-per-task: the gpu count must be a positive whole number, got "0"`},
		"gpus per task odd":  {"-n 4 --gpus-per-task=1 --gpus=8", "job.sh:2: accelerators_per_task: 1 per task × 4 tasks is not accelerators (8)"},
		"nodes range":        {"-N 4-2", `job.sh:2: nodes: want a range min-max with min <= max, got "4-2"`},
		"time":               {"-t 1:2:3:4", `job.sh:2: time: want a Slurm time (M, M:S, H:M:S, D-H, D-H:M or D-H:M:S), got "1:2:3:4"`},
		"array empty":        {"--array=%4", `job.sh:2: array: want indices such as 0-9, 1,3,5 or 0-99:2 (then %N to run at most N at once), got "%4"`},
		"array reversed":     {"--array=9-0", `job.sh:2: array: "9-0": the range ends before it starts`},
		"array word":         {"--array=a-b", `job.sh:2: array: "a-b": want an index, a range A-B or A-B:step`},
		"array step":         {"--array=0-9:0", `job.sh:2: array: "0-9:0": a step needs a range and must be a positive whole number (A-B:S)`},
		"array too big":      {"--array=0-10000", `job.sh:2: array: at most 10000 tasks in one array, got more in "0-10000"`},
		"array index":        {"--array=5000000", `job.sh:2: array: "5000000": indices go up to 4000000`},
		"array throttle":     {"--array=0-9%0", `job.sh:2: array: the throttle after % must be a whole number from 1 to 10000, got "0"`},
		"dependency kind":    {"-d aftercorr:12", `job.sh:2: dependency: "aftercorr:12": want a condition of afterok, afterany, afternotok, after, singleton (e.g. afterok:1234)`},
		"dependency mixed":   {"-d afterok:1,afterany:2?after:3", `job.sh:2: dependency: join conditions with "," (all) or "?" (any), not both: "afterok:1,afterany:2?after:3"`},
		"dependency no job":  {"-d afterok", "job.sh:2: dependency: conditions[0]: afterok needs at least one job id (afterok:1234)"},
		"dependency id":      {"-d afterok:abc", `job.sh:2: dependency: conditions[0]: "abc" is not a job id (1234, or 1234_7 for an array task)`},
		"dependency delay":   {"-d afterok:12+5", `job.sh:2: dependency: "afterok:12+5": only after:JOB+MINUTES takes a delay, in whole minutes`},
		"singleton jobs":     {"-d singleton:4", "job.sh:2: dependency: conditions[0]: singleton names no jobs"},
		"signal name":        {"--signal=FOO@10", `job.sh:2: signal: "FOO@10": unknown signal "FOO"; want a name such as USR1, USR2, TERM or INT`},
		"signal flag":        {"--signal=R:USR1", `job.sh:2: signal: "R:USR1": the R flag (signal on reservation end) is not supported; use [B:]SIG@SECS`},
		"signal secs":        {"--signal=USR1@99999", `job.sh:2: signal: "USR1@99999": the seconds after @ must be a whole number from 0 to 65535`},
		"hint":               {"--hint=fast", `job.sh:2: hint: unknown hint "fast"; want compute_bound, memory_bound, multithread, nomultithread`},
		"mail type":          {"--mail-type=SOMETIMES", `job.sh:2: mail-type: unknown mail type "SOMETIMES"; want a comma-separated list of NONE, BEGIN, END, FAIL, REQUEUE, ALL, INVALID_DEPEND, STAGE_OUT, TIME_LIMIT, TIME_LIMIT_90, TIME_LIMIT_80, TIME_LIMIT_50, ARRAY_TASKS`},
		"export":             {"--export=ALL,1BAD=x", `job.sh:2: export: "1BAD=x" is not NAME or NAME=value (ALL or NONE only first)`},
		"begin":              {"--begin=someday", `job.sh:2: begin: want a time such as now+1hour, 16:00, 2026-12-24T18:00 or tomorrow, got "someday"`},
		"deadline date":      {"--deadline=2026-02-30", `job.sh:2: deadline: "2026-02-30" is not a valid date and time`},
		"gf qos strict":      {"--comment=x\n#GF --qos=boost_qos_dbg", `job.sh:3: qos: unknown qos "boost_qos_dbg"; want one of playground, normal, fast-lane, large-scale, moonshot`},
		"unknown":            {"--cpu-freq=high", "job.sh:2: #SBATCH --cpu-freq: not supported by Gigafactory"},
		"missing value":      {"--cpus-per-task", "job.sh:2: cpus-per-task: needs a value"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			in := "#!/bin/bash\n#SBATCH " + tc.directives + "\nsrun x\n"
			s, _, err := ParseScript("job.sh", []byte(in))
			if err == nil {
				t.Fatalf("no error; spec %+v", s)
			}
			if diff := cmp.Diff([]string{tc.want}, errs(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBatchFieldsJSON checks that a JSON spec takes the same fields, in
// sbatch's text or the encoded objects, with errors naming the field.
func TestBatchFieldsJSON(t *testing.T) {
	s, err := ParseJSON([]byte(`{"script": "srun x", "ntasks": 4, "accelerators_per_task": 2, "cpus_per_task": 8,
		"mem_mib_per_cpu": 2000, "array": "0-15%2", "dependency": {"conditions": [{"type": "afterok", "jobs": [{"id": "7"}]}]},
		"signal": "B:USR1@90", "requeue": false, "site_qos": "acc_debug", "exclusive": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Accelerators != 8000 || s.Array.Throttle != 2 || s.Dependency.Conditions[0].Jobs[0].ID != "7" ||
		s.Signal.Name != "USR1" || s.Requeue == nil || *s.Requeue || s.SiteQoS != "acc_debug" || !s.Exclusive {
		t.Errorf("spec %+v", s)
	}
	checkRoundTrip(t, s)

	bad := map[string]struct{ in, want string }{
		"ntasks negative": {`{"script":"x","ntasks":-1}`, "ntasks: must not be negative, got -1"},
		"cpus too many":   {`{"script":"x","cpus_per_task":9999}`, "cpus_per_task: must be at most 4096, got 9999"},
		"array text":      {`{"script":"x","array":"9-1"}`, `array: "9-1": the range ends before it starts`},
		"array object":    {`{"script":"x","array":{"ranges":[{"first":0,"last":5000000}]}}`, "array: ranges[0]: indices go from 0 to 4000000, got 0-5000000"},
		"array unknown":   {`{"script":"x","array":{"range":[]}}`, `array: unknown field "range"`},
		"array empty":     {`{"script":"x","array":{"ranges":[]}}`, "array: an array needs at least one range"},
		"dependency type": {`{"script":"x","dependency":{"conditions":[{"type":"before","jobs":[{"id":"1"}]}]}}`, `dependency: conditions[0]: unknown type "before"; want one of afterok, afterany, afternotok, after, singleton`},
		"signal object":   {`{"script":"x","signal":{"name":"NOPE","seconds":5}}`, `signal: unknown signal "NOPE"; want a name such as USR1, USR2, TERM or INT`},
		"signal number":   {`{"script":"x","signal":5}`, "signal: want sbatch's text or an object, got number 5"},
		"mem twice":       {`{"script":"x","mem_mib_per_node":5,"mem_mib_per_cpu":5}`, "mem_mib_per_node: give one of mem_mib_per_node (or mem_all), mem_mib_per_cpu and mem_mib_per_accelerator, as sbatch takes one of --mem, --mem-per-cpu and --mem-per-gpu"},
		"mem all and":     {`{"script":"x","mem_all":true,"mem_mib_per_node":5}`, "mem_all: give mem_mib_per_node or mem_all, not both"},
		"nodes max":       {`{"script":"x","nodes":4,"nodes_max":2}`, "nodes_max: must be at least nodes (4), got 2"},
		"both qos":        {`{"script":"x","qos":"normal","site_qos":"dbg"}`, "site_qos: give qos or site_qos, not both"},
		"begin":           {`{"script":"x","begin":"soon"}`, `begin: want a time such as now+1hour, 16:00, 2026-12-24T18:00 or tomorrow, got "soon"`},
		"export":          {`{"script":"x","export":""}`, ""},
		"hint control":    {`{"script":"x","comment":"a\u0007"}`, `comment: must not contain control characters, got "a\a"`},
		"per task":        {`{"script":"x","ntasks":2,"accelerators_per_task":2,"accelerators":3}`, "accelerators_per_task: 2 per task × 2 tasks is not accelerators (3)"},
		"requeue type":    {`{"script":"x","requeue":"maybe"}`, `requeue: want true or false, got string "maybe"`},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			s, err := ParseJSON([]byte(tc.in))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				checkRoundTrip(t, s)
				return
			}
			if diff := cmp.Diff([]string{tc.want}, errs(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSlurmDate(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 30, 0, 0, time.UTC)
	at := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	tests := map[string]time.Time{
		"now":              now,
		"now+90":           now.Add(90 * time.Second),
		"now+1hour":        now.Add(time.Hour),
		"now+2days":        now.Add(48 * time.Hour),
		"now+1w":           now.Add(7 * 24 * time.Hour),
		"16:00":            at(12, 7, 16, 0),
		"10:00":            at(12, 8, 10, 0),
		"4:15pm":           at(12, 7, 16, 15),
		"12:00am":          at(12, 8, 0, 0),
		"2026-12-24":       at(12, 24, 0, 0),
		"2026-12-24T18:05": at(12, 24, 18, 5),
		"12/25":            at(12, 25, 0, 0),
		"01/02/27":         time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC),
		"11/01":            time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC),
		"today":            at(12, 7, 0, 0),
		"tomorrow":         at(12, 8, 0, 0),
		"midnight":         at(12, 8, 0, 0),
		"noon":             at(12, 8, 12, 0),
		"teatime":          at(12, 7, 16, 0),
		"fika":             at(12, 7, 15, 0),
	}
	for in, want := range tests {
		got, err := ParseSlurmDate(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSlurmDate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "now-1hour", "25:00", "13:00pm", "2026-13-01", "2026-12-24T24:00", "now+1fortnight", "now+999999999w"} {
		if got, err := ParseSlurmDate(in, now); err == nil {
			t.Errorf("ParseSlurmDate(%q) = %v, want an error", in, got)
		}
	}
}

func TestArrayIndices(t *testing.T) {
	a, err := ParseArray("7,0-9:3,3")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 3, 6, 7, 9}, a.Indices()); diff != "" {
		t.Errorf("indices (-want +got):\n%s", diff)
	}
	if got := a.String(); got != "7,0-9:3,3" {
		t.Errorf("String() = %q", got)
	}
	b, _ := json.Marshal(a)
	if string(b) != `{"ranges":[{"first":7,"last":7},{"first":0,"last":9,"step":3},{"first":3,"last":3}]}` {
		t.Errorf("JSON %s", b)
	}
}
