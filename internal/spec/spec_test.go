package spec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/google/go-cmp/cmp"
)

// errs returns the problems of err as strings, failing when err is not Errors.
func errs(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want spec.Errors", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"negative": {
			in:   "command: [x]\naccelerators: -1\n",
			want: []string{"job.yaml:2: accelerators: must not be negative, got -1"},
		},
		"typo": {
			in:   "command: [x]\nacelerators: 4\n",
			want: []string{`job.yaml:2: acelerators: unknown field "acelerators"; did you mean "accelerators"?`},
		},
		"no suggestion for nonsense": {
			in:   "command: [x]\nzzzz: 4\n",
			want: []string{`job.yaml:2: zzzz: unknown field "zzzz"`},
		},
		"string for number": {
			in:   "command: [x]\naccelerators: \"abc\"\n",
			want: []string{`job.yaml:2: accelerators: want a number, got string "abc"`},
		},
		"walltime": {
			in:   "command: [x]\nwalltime: abc\n",
			want: []string{`job.yaml:2: walltime: want a duration like 1h30m, 90m or 2:00:00, got "abc"`},
		},
		"ambiguous walltime": {
			in:   "command: [x]\nwalltime: \"90\"\n",
			want: []string{`job.yaml:2: walltime: ambiguous walltime "90": write 90m for minutes or 90s for seconds`},
		},
		"qos": {
			in:   "command: [x]\nqos: gold\n",
			want: []string{`job.yaml:2: qos: unknown qos "gold"; want one of playground, normal, fast-lane, large-scale, moonshot`},
		},
		"country": {
			in:   "command: [x]\nresidency:\n  - DE\n  - XY\n",
			want: []string{`job.yaml:4: residency[1]: "XY" is not an ISO 3166-1 alpha-2 country code (or "EU" for the member states)`},
		},
		"neither": {
			in:   "name: x\n",
			want: []string{"job.yaml: command: give a command or a script"},
		},
		"not divisible": {
			in:   "command: [x]\naccelerators: 6\nnodes: 4\n",
			want: []string{"job.yaml:2: accelerators: 6 is not divisible by nodes (4)"},
		},
		"not a multiple": {
			in:   "command: [x]\naccelerators: 6\naccelerators_per_node: 4\n",
			want: []string{"job.yaml:2: accelerators: 6 is not a multiple of accelerators_per_node (4)"},
		},
		"fraction over nodes": {
			in:   "command: [x]\naccelerators: 0.5\nnodes: 2\n",
			want: []string{"job.yaml:2: accelerators: a fraction of an accelerator (0.5) cannot be spread over 2 nodes"},
		},
		"per node alone": {
			in:   "command: [x]\naccelerators_per_node: 4\n",
			want: []string{"job.yaml:2: accelerators_per_node: 4 given without accelerators or nodes"},
		},
		"too many nodes": {
			in:   "command: [x]\nnodes: 1000000\n",
			want: []string{"job.yaml:2: nodes: must be at most 100000, got 1000000"},
		},
		"command type": {
			in:   "command: {a: b}\n",
			want: []string{"job.yaml:1: command: want a list of strings, got a mapping"},
		},
		"command element": {
			in:   "command: [x, 3]\n",
			want: []string{"job.yaml:1: command[1]: want a string, got number 3"},
		},
		"env value list": {
			in:   "command: [x]\nenv:\n  A: [1]\n",
			want: []string{"job.yaml:3: env.A: want a string, got a list"},
		},
		"two documents": {
			in:   "command: [x]\n---\ncommand: [y]\n",
			want: []string{"job.yaml:2: invalid YAML: more than one document; give one job per file"},
		},
		"control character": {
			in:   "command: [x]\nname: \"a\\tb\"\n",
			want: []string{`job.yaml:2: name: must not contain control characters, got "a\tb"`},
		},
		"empty": {
			in:   "",
			want: []string{"job.yaml: empty file: want a mapping of fields"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Parse("job.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; spec %+v", s)
			}
			if diff := cmp.Diff(tc.want, errs(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("job.yaml", []byte("command: [x]\n\naccelerators: -1\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*spec.Error) failed on %v", err)
	}
	want := Error{File: "job.yaml", Line: 3, Field: "accelerators", Msg: "must not be negative, got -1"}
	if *e != want {
		t.Errorf("got %+v, want %+v", *e, want)
	}
}

func TestParseJSON(t *testing.T) {
	_, err := ParseJSON([]byte(`{"command": ["x"], "env": {"FOO": 1, "2X": "y", "B": {}}, "accelerators": -2, "nodez": 1}`))
	want := []string{
		`nodez: unknown field "nodez"; did you mean "nodes"?`,
		`env.B: want a string, got a mapping`,
		`accelerators: must not be negative, got -2`,
		`env.2X: not a valid variable name (want letters, digits and _, not starting with a digit)`,
	}
	if diff := cmp.Diff(want, errs(t, err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	var es Errors
	errors.As(err, &es)
	for _, e := range es {
		if e.Line != 0 || e.File != "" {
			t.Errorf("%+v: want no file or line for a JSON body", e)
		}
	}
	for _, bad := range []string{``, `{`, `[1]`, `{"command": ["x"]} {}`, `{"command": ["x"], "command": ["y"]}`} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) succeeded", bad)
		}
	}
	s, err := ParseJSON([]byte(`{"command": "echo hi", "accelerators": 0.5, "walltime": "1h", "residency": ["eu"], "preemptible": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Accelerators != 500 || time.Duration(s.Walltime) != time.Hour || len(s.Residency) != 27 || !s.Preemptible ||
		!cmp.Equal(s.Command, []string{"sh", "-c", "echo hi"}) {
		t.Errorf("spec = %+v", s)
	}
}

func TestValidate(t *testing.T) {
	s := core.JobSpec{Command: []string{"x"}, Accelerators: -250, Nodes: -1, QoS: "fast_lane", Residency: []string{"de"}, Env: map[string]string{"A B": "x"}}
	var got []string
	for _, e := range Validate(s) {
		got = append(got, e.Error())
	}
	want := []string{
		"accelerators: must not be negative, got -0.25",
		`qos: unknown qos "fast_lane"; did you mean "fast-lane"? (want one of playground, normal, fast-lane, large-scale, moonshot)`,
		"env.A B: not a valid variable name (want letters, digits and _, not starting with a digit)",
		`residency[0]: "de" is not an ISO 3166-1 alpha-2 country code (or "EU" for the member states)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if es := Validate(core.JobSpec{Script: "#!/bin/sh\n", Accelerators: 8000, Nodes: 2, PerNode: 4}); len(es) != 0 {
		t.Errorf("valid spec refused: %v", es)
	}
}

func TestWalltime(t *testing.T) {
	good := map[string]time.Duration{
		"1h30m": 90 * time.Minute, "90m": 90 * time.Minute, "2:00:00": 2 * time.Hour,
		"1-00:00:00": 24 * time.Hour, "1-12": 36 * time.Hour, "1-2:30": 26*time.Hour + 30*time.Minute,
		"30:15": 30*time.Minute + 15*time.Second, "0:0:1": time.Second,
	}
	for in, want := range good {
		got, err := ParseWalltime(in)
		if err != nil || got != want {
			t.Errorf("ParseWalltime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	slurm := map[string]time.Duration{"90": 90 * time.Minute, "5:00": 5 * time.Minute, "2-0": 48 * time.Hour}
	for in, want := range slurm {
		got, err := ParseSlurmTime(in)
		if err != nil || got != want {
			t.Errorf("ParseSlurmTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "-1h", "1:2:3:4", "1-2-3", "a:b", "366-00:00:00", "9000h", "UNLIMITED", "1:", ":"} {
		if d, err := ParseWalltime(bad); err == nil {
			t.Errorf("ParseWalltime(%q) = %v, want an error", bad, d)
		}
	}
}

func TestParseScript(t *testing.T) {
	s, warnings, err := ParseScript("job.sh", []byte("#!/bin/bash\n#SBATCH -N2 --gpus-per-node=4\n#SBATCH --time 10\n#GF --residency de\nsrun x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Nodes != 2 || s.PerNode != 4 || s.Accelerators != 8000 || time.Duration(s.Walltime) != 10*time.Minute ||
		s.Name != "job.sh" || len(s.Command) != 0 || !strings.HasPrefix(s.Script, "#!/bin/bash") || s.Residency[0] != "DE" || len(warnings) != 0 {
		t.Errorf("spec %+v, warnings %v", s, warnings)
	}

	tests := map[string]struct {
		in   string
		want []string
	}{
		"unknown long": {
			in:   "#!/bin/sh\n#SBATCH -J x\n\n#SBATCH --mem-bind=local\necho\n",
			want: []string{"job.sh:4: #SBATCH --mem-bind: not supported by Gigafactory"},
		},
		"negative gres": {
			in:   "#SBATCH --gres=gpu:-1\necho\n",
			want: []string{`job.sh:1: gres: the gpu count must be a positive whole number, got "-1"`},
		},
		"short unsupported": {
			in:   "#SBATCH -w node1\necho\n",
			want: []string{"job.sh:1: #SBATCH -w: not supported by Gigafactory"},
		},
		"gf only in gf": {
			in:   "#SBATCH --preemptible\necho\n",
			want: []string{"job.sh:1: #SBATCH --preemptible: not supported by Gigafactory"},
		},
		"gpus not divisible": {
			in:   "#SBATCH --gpus=6 --nodes=4\necho\n",
			want: []string{"job.sh:1: accelerators: 6 is not divisible by nodes (4)"},
		},
		"per node conflict": {
			in:   "#SBATCH --gres=gpu:8\n#SBATCH --gpus-per-node=4\necho\n",
			want: []string{"job.sh:2: gpus-per-node: 4 gpus per node conflicts with 8 from --gres at line 1"},
		},
		"quote": {
			in:   "#SBATCH --job-name='x\necho\n",
			want: []string{"job.sh:1: #SBATCH: unterminated ' quote"},
		},
		"bad flag value": {
			in:   "#GF --preemptible=perhaps\necho\n",
			want: []string{`job.sh:1: preemptible: want true or false, got "perhaps"`},
		},
		"not utf8": {
			in:   "#SBATCH -J \xff\necho\n",
			want: []string{"job.sh: script: not valid UTF-8"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _, err := ParseScript("job.sh", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; spec %+v", s)
			}
			if diff := cmp.Diff(tc.want, errs(t, err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// checkRoundTrip asserts what every accepted spec must satisfy: it
// validates, and its JSON form parses back to the same spec.
func checkRoundTrip(t *testing.T, s core.JobSpec) {
	t.Helper()
	if es := Validate(s); len(es) > 0 {
		t.Fatalf("parsed spec does not validate: %v\nspec: %+v", es, s)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	back, err := ParseJSON(b)
	if err != nil {
		t.Fatalf("JSON form %s does not parse back: %v", b, err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Fatalf("JSON round trip changed the spec (-before +after):\n%s\nJSON: %s", diff, b)
	}
}

func TestRoundTripExamples(t *testing.T) {
	for _, in := range []string{
		"command: [x]\naccelerators: 0.125\nwalltime: 1.5\n",
		"script: echo\ngpus: 16\naccelerators_per_node: 8\nresidency: [EU, de]\nenv: {A: \"\"}\n",
		"command: x\nwalltime: 1-00:00:00\nnodes: 3\n",
	} {
		s, err := Parse("x.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		checkRoundTrip(t, s)
	}
}
