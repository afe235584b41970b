package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gigafactory/gigafactory/internal/core"
)

// parseSubmit parses gf submit's command line with the command main
// builds and returns the specs it would send.
func parseSubmit(t *testing.T, args []string) ([]core.JobSpec, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr}
	// The real root (global flags, flag errors) with a submit command
	// whose flags are the real ones and whose run only builds the specs.
	root := newRoot(env)
	real, _, err := root.Find([]string{"submit"})
	if err != nil {
		t.Fatal(err)
	}
	root.RemoveCommand(real)
	o := &submitOpts{}
	var specs []core.JobSpec
	cmd := newCommand(env, "submit", "", func(ctx context.Context, env *cliEnv, args []string) error {
		var err error
		specs, err = o.specs(env, args)
		return err
	})
	o.register(cmd.Flags())
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"submit"}, args...))
	root.SetOut(io.Discard)
	root.SetErr(&stderr)
	err = root.Execute()
	return specs, stderr.String(), err
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubmitFlags(t *testing.T) {
	yamlFile := writeFile(t, "job.yaml", "name: from-file\naccelerators: 2\nwalltime: 1h\ncommand: [python, train.py]\n")
	tests := map[string]struct {
		args []string
		want core.JobSpec
	}{
		"every flag": {
			args: []string{"-a", "0.5", "--name", "x", "--project", "p", "--model", "h100|h200", "--nodes", "2", "-t", "1:30:00",
				"--qos", "fast-lane", "--preemptible", "--checkpointable", "--env", "A=1", "--env", "B=x=y", "--workdir", "/tmp",
				"--residency", "de, fr", "--model-tag", "llama", "--site", "local", "--", "python", "train.py", "--lr", "0.1"},
			want: core.JobSpec{Name: "x", Project: "p", Command: []string{"python", "train.py", "--lr", "0.1"}, Accelerators: 500,
				Model: "h100|h200", Nodes: 2, Walltime: core.Duration(90 * time.Minute), QoS: "fast-lane", Preemptible: true,
				Checkpointable: true, Env: map[string]string{"A": "1", "B": "x=y"}, WorkDir: "/tmp", Residency: []string{"DE", "FR"},
				ModelTag: "llama", Site: "local"},
		},
		"gpus alias and default name": {
			args: []string{"--gpus", "2", "--", "/usr/bin/nvidia-smi", "-L"},
			want: core.JobSpec{Name: "nvidia-smi", Command: []string{"/usr/bin/nvidia-smi", "-L"}, Accelerators: 2000},
		},
		"long flags after the command name": {
			args: []string{"sleep", "10", "--accelerators=1", "--walltime", "90m"},
			want: core.JobSpec{Name: "sleep", Command: []string{"sleep", "10"}, Accelerators: 1000, Walltime: core.Duration(90 * time.Minute)},
		},
		"flags override a spec file": {
			args: []string{yamlFile, "-a", "4", "--env", "X=1"},
			want: core.JobSpec{Name: "from-file", Command: []string{"python", "train.py"}, Accelerators: 4000,
				Walltime: core.Duration(time.Hour), Env: map[string]string{"X": "1"}},
		},
		"a spec file keeps what flags do not set": {
			args: []string{yamlFile},
			want: core.JobSpec{Name: "from-file", Command: []string{"python", "train.py"}, Accelerators: 2000, Walltime: core.Duration(time.Hour)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			specs, stderr, err := parseSubmit(t, tc.args)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, stderr)
			}
			if len(specs) != 1 {
				t.Fatalf("got %d specs, want 1", len(specs))
			}
			if diff := cmp.Diff(tc.want, specs[0], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitScript(t *testing.T) {
	script := "#!/bin/bash\n#SBATCH --job-name=train\n#SBATCH --gres=gpu:h100:2\n#SBATCH --time=2:00:00\n#SBATCH --account=nlp\n#SBATCH --mail-type=END\nsrun python train.py\n"
	p := writeFile(t, "train.sbatch", script)
	specs, stderr, err := parseSubmit(t, []string{"--time", "30m", p})
	if err == nil {
		t.Fatalf("--time is not gf submit's flag (it is -t/--walltime), want a usage error")
	}
	specs, stderr, err = parseSubmit(t, []string{"-t", "30m", p})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	s := specs[0]
	if s.Name != "train" || s.Project != "nlp" || s.Accelerators != 2000 || s.Model != "h100" || s.Script != script {
		t.Errorf("spec from #SBATCH = %+v", s)
	}
	if got := time.Duration(s.Walltime); got != 30*time.Minute {
		t.Errorf("walltime = %v, want the flag's 30m to override the script's 2h", got)
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "train.sbatch:6") {
		t.Errorf("stderr = %q, want a warning naming train.sbatch:6 (--mail-type: no mailer)", stderr)
	}
}

func TestSubmitInvalid(t *testing.T) {
	bad := writeFile(t, "bad.sh", "#!/bin/sh\n#SBATCH --gres=gpu:-1\necho hi\n")
	unsupported := writeFile(t, "wckey.sh", "#!/bin/sh\n#SBATCH --wckey=proj\necho hi\n")
	badYAML := writeFile(t, "bad.yaml", "name: x\naccelerators: lots\n")
	tests := map[string]struct {
		args []string
		want []string // substrings of the error or stderr
	}{
		"negative accelerators":   {args: []string{"--accelerators", "-1", "--", "true"}, want: []string{"-accelerators", "must not be negative"}},
		"walltime abc":            {args: []string{"--walltime", "abc", "--", "true"}, want: []string{"-walltime", `"abc"`}},
		"ambiguous walltime":      {args: []string{"-t", "90", "--", "true"}, want: []string{"-t", "90m"}},
		"env without value":       {args: []string{"--env", "NOVALUE", "--", "true"}, want: []string{"-env", "NAME=VALUE"}},
		"gres -1":                 {args: []string{bad}, want: []string{"bad.sh:2", "gres"}},
		"unsupported directive":   {args: []string{unsupported}, want: []string{"wckey.sh:2", "--wckey"}},
		"yaml of the wrong type":  {args: []string{badYAML}, want: []string{"bad.yaml:2", "accelerators"}},
		"missing spec file":       {args: []string{"nope.yaml"}, want: []string{"nope.yaml"}},
		"three decimals at most":  {args: []string{"-a", "0.0001", "--", "true"}, want: []string{"three decimals"}},
		"unknown flag is refused": {args: []string{"--gpu", "1", "--", "true"}, want: []string{"-gpu"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, stderr, err := parseSubmit(t, tc.args)
			if err == nil {
				t.Fatalf("no error; stderr %q", stderr)
			}
			msg := err.Error() + "\n" + stderr
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// runGF runs gf in-process with a clean environment and returns its exit
// code, stdout and stderr.
func runGF(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("GF_URL", "")
	t.Setenv("GF_TOKEN", "")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	empty := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	refused := t.TempDir()
	os.WriteFile(filepath.Join(refused, "gf.addr"), []byte("http://"+closed+"\n"), 0o644)
	os.WriteFile(filepath.Join(refused, "admin.token"), []byte("gf_x\n"), 0o600)

	tests := map[string]struct {
		args []string
		code int
		want string // in stderr
	}{
		"no arguments":           {args: []string{"submit"}, code: 2, want: "usage: gf submit"},
		"negative accelerators":  {args: []string{"submit", "-a", "-1", "--", "true"}, code: 2, want: "must not be negative"},
		"no server":              {args: []string{"jobs", "--data", empty}, code: 1, want: "no server: set GF_URL and GF_TOKEN, or run gf serve in this directory"},
		"bad output":             {args: []string{"jobs", "-o", "xml", "--data", empty}, code: 2, want: `-o "xml"`},
		"bad job id":             {args: []string{"show", "abc"}, code: 2, want: `invalid job id "abc"`},
		"bad state":              {args: []string{"jobs", "--state", "bogus"}, code: 2, want: `unknown state "bogus"`},
		"jobs takes no args":     {args: []string{"jobs", "12"}, code: 2, want: "gf show 12"},
		"server down":            {args: []string{"sites", "--data", refused}, code: 1, want: "cannot reach the control plane at http://" + closed + " (from " + filepath.Join(refused, "gf.addr") + ")"},
		"org without country":    {args: []string{"orgs", "create", "acme", "--kind", "sme"}, code: 2, want: "--country"},
		"go-style -long flags":   {args: []string{"jobs", "-all", "-data", empty}, code: 1, want: "no server"},
		"-ojson and -data=DIR":   {args: []string{"sites", "-ojson", "-data=" + empty}, code: 1, want: "no server"},
		"one dash, no such flag": {args: []string{"jobs", "-allx"}, code: 2, want: "see 'gf jobs --help'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runGF(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("gf %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
			}
		})
	}
}

func TestDiscover(t *testing.T) {
	local := t.TempDir()
	os.WriteFile(filepath.Join(local, "admin.token"), []byte("gf_admin\n"), 0o600)
	os.WriteFile(filepath.Join(local, "gf.addr"), []byte("http://127.0.0.1:43210\n"), 0o644)
	tokenOnly := t.TempDir()
	os.WriteFile(filepath.Join(tokenOnly, "admin.token"), []byte("gf_admin"), 0o600)
	empty := t.TempDir()

	tests := map[string]struct {
		env     cliEnv
		want    endpoint
		wantErr error
	}{
		"flags win":            {env: cliEnv{url: "https://gf.example.eu", token: "gf_u", data: local}, want: endpoint{url: "https://gf.example.eu", token: "gf_u", from: "--url/GF_URL"}},
		"local data directory": {env: cliEnv{data: local}, want: endpoint{url: "http://127.0.0.1:43210", token: "gf_admin", from: filepath.Join(local, "gf.addr")}},
		"no gf.addr":           {env: cliEnv{data: tokenOnly}, want: endpoint{url: defaultServerURL, token: "gf_admin", from: "the default address"}},
		"token only":           {env: cliEnv{token: "gf_u", data: empty}, want: endpoint{url: defaultServerURL, token: "gf_u", from: "the default address"}},
		"url only":             {env: cliEnv{url: "http://h:1", data: empty}, want: endpoint{url: "http://h:1", from: "--url/GF_URL"}},
		"nothing":              {env: cliEnv{data: empty}, wantErr: errNoServer},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := discover(&tc.env)
			if err != tc.wantErr {
				t.Fatalf("discover: error %v, want %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("discover = %+v, want %+v", got, tc.want)
			}
		})
	}
}
