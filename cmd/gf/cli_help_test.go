package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// TestGoldenHelp pins what gf says about itself: help on stdout, a flag
// error or an unknown command in one short message on stderr with exit 2.
// go test ./cmd/gf -run GoldenHelp -update rewrites testdata/cli_*.golden.
func TestGoldenHelp(t *testing.T) {
	tests := map[string]struct {
		args   []string
		code   int
		stream string // which of stdout and stderr is golden; the other must be empty
	}{
		"cli_help":            {args: []string{"--help"}, stream: "stdout"},
		"cli_help_submit":     {args: []string{"help", "submit"}, stream: "stdout"},
		"cli_submit_help":     {args: []string{"submit", "--help"}, stream: "stdout"},
		"cli_help_site":       {args: []string{"help", "site"}, stream: "stdout"},
		"cli_flag_error":      {args: []string{"jobs", "--bogus"}, code: 2, stream: "stderr"},
		"cli_flag_value":      {args: []string{"submit", "--walltime", "soon", "--", "true"}, code: 2, stream: "stderr"},
		"cli_unknown_command": {args: []string{"jbos"}, code: 2, stream: "stderr"},
		"cli_usage_error":     {args: []string{"show"}, code: 2, stream: "stderr"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runGF(t, tc.args...)
			if code != tc.code {
				t.Errorf("gf %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, stdout, stderr)
			}
			got, other := stdout, stderr
			if tc.stream == "stderr" {
				got, other = stderr, stdout
			}
			if other != "" {
				t.Errorf("gf %v wrote to the other stream too:\n%s", tc.args, other)
			}
			golden(t, name, got)
		})
	}
}

// TestHelpContracts checks what the goldens must keep saying.
func TestHelpContracts(t *testing.T) {
	_, root, _ := runGF(t, "--help")
	for _, flag := range []string{"--url", "--token", "--output", "--data"} {
		if n := strings.Count(root, flag+" "); n != 1 {
			t.Errorf("gf --help lists %s %d times, want once", flag, n)
		}
	}
	for _, cmd := range []string{"submit", "jobs", "show", "cancel", "logs", "explain", "sites", "site", "orgs", "projects", "users", "tokens", "serve", "simulate", "version", "completion", "help"} {
		if !strings.Contains(root, "\n  "+cmd+" ") {
			t.Errorf("gf --help does not list %s", cmd)
		}
	}
	_, viaHelp, _ := runGF(t, "help", "submit")
	_, viaFlag, _ := runGF(t, "submit", "--help")
	if viaHelp != viaFlag {
		t.Errorf("gf help submit and gf submit --help differ:\n%s\n---\n%s", viaHelp, viaFlag)
	}
	if strings.Contains(viaHelp, "--token string") {
		t.Errorf("gf help submit repeats the global flags' list:\n%s", viaHelp)
	}
	_, _, flagErr := runGF(t, "jobs", "--bogus")
	if !strings.Contains(flagErr, "--bogus") || !strings.Contains(flagErr, "see 'gf jobs --help'") || strings.Contains(flagErr, "--state") {
		t.Errorf("flag error %q: want the flag named, a pointer to gf jobs --help and no flag list", flagErr)
	}
	_, _, unknown := runGF(t, "jbos")
	if !strings.Contains(unknown, "Did you mean this?") || !strings.Contains(unknown, "jobs") {
		t.Errorf("unknown command %q: want cobra's suggestion of jobs", unknown)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runGF(t, args...)
		if code != 0 || stdout != "gf "+version+"\n" || stderr != "" {
			t.Errorf("gf %v: exit %d, stdout %q, stderr %q; want gf %s", args, code, stdout, stderr, version)
		}
	}
}

// TestCompletionScripts checks that cobra's scripts are there for each
// shell and complete gf (a few lines, not the generated whole).
func TestCompletionScripts(t *testing.T) {
	tests := map[string][]string{
		"bash": {"# bash completion V2 for gf", "__start_gf()", "complete -o default -F __start_gf gf"},
		"zsh":  {"#compdef gf", "compdef _gf gf", "__complete"},
		"fish": {"# fish completion for gf", "complete -c gf", "__complete"},
	}
	for shell, want := range tests {
		t.Run(shell, func(t *testing.T) {
			code, stdout, stderr := runGF(t, "completion", shell)
			if code != 0 || stderr != "" {
				t.Fatalf("gf completion %s: exit %d, stderr %q", shell, code, stderr)
			}
			for _, w := range want {
				if !strings.Contains(stdout, w) {
					t.Errorf("gf completion %s lacks %q", shell, w)
				}
			}
		})
	}
}

// TestCompletion checks gf's own completions through cobra's __complete,
// as the shell scripts call it. Without a server they offer nothing and
// print no error.
func TestCompletion(t *testing.T) {
	empty := t.TempDir()
	tests := map[string]struct {
		args []string
		want []string // completions, in order, before the directive line
	}{
		"commands":          {args: []string{"__complete", "jo"}, want: []string{"jobs\tlist jobs like squeue: pending and running ones, newest first (--all adds ended ones)"}},
		"flags":             {args: []string{"__complete", "jobs", "--pri"}, want: []string{"--priority\tshow pending jobs' priority and one column per factor (its points, as sprio; -o json adds each job's \"priority\": {priority, factors})"}},
		"output formats":    {args: []string{"__complete", "jobs", "-o", ""}, want: []string{"table", "json", "yaml"}},
		"job ids no server": {args: []string{"__complete", "--data", empty, "show", ""}},
		"sites no server":   {args: []string{"__complete", "--data", empty, "site", "drain", ""}},
		"site verbs":        {args: []string{"__complete", "site", "d"}, want: []string{"down\tmark a site down: its jobs are requeued elsewhere", "drain\tstop placing new jobs at a site; its running jobs finish"}},
		"eu sites offline":  {args: []string{"__complete", "sites", "--network", "eu", "lumi"}, want: []string{"lumi-aif\tLUMI AI Factory (LUMI AIF)"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runGF(t, tc.args...)
			if code != 0 {
				t.Fatalf("gf %v: exit %d\n%s", tc.args, code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			got := lines[:len(lines)-1] // the last line is cobra's directive
			if d := lines[len(lines)-1]; d != ":4" {
				t.Errorf("gf %v: directive %q, want :4 (no file names)", tc.args, d)
			}
			var filtered []string
			for _, l := range got {
				if strings.HasPrefix(l, strings.SplitN(tc.args[len(tc.args)-1], "\t", 2)[0]) {
					filtered = append(filtered, l)
				}
			}
			if strings.Join(filtered, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("gf %v completes\n%s\nwant\n%s", tc.args, strings.Join(filtered, "\n"), strings.Join(tc.want, "\n"))
			}
			if strings.Contains(stdout+stderr, "no server") || strings.Contains(stdout+stderr, "Error") {
				t.Errorf("gf %v prints an error into the prompt:\n%s%s", tc.args, stdout, stderr)
			}
		})
	}
}

// TestSitesNetworkOffline is the broker issue's contract: gf sites
// --network eu lists the built-in EU network with no server anywhere.
func TestSitesNetworkOffline(t *testing.T) {
	empty := t.TempDir()
	code, stdout, stderr := runGF(t, "sites", "--network", "eu", "--data", empty, "-ojson")
	if code != 0 {
		t.Fatalf("gf sites --network eu -ojson: exit %d\n%s", code, stderr)
	}
	var sites []core.Site
	if err := json.Unmarshal([]byte(stdout), &sites); err != nil {
		t.Fatalf("gf sites --network eu -ojson: %v\n%s", err, stdout)
	}
	if len(sites) < 30 {
		t.Fatalf("got %d sites, want the EU network's 37", len(sites))
	}
	byID := map[string]core.Site{}
	for _, s := range sites {
		byID[s.ID] = s
	}
	if s := byID["lumi-aif"]; s.Country != "FI" || s.Accelerators == 0 || s.State != core.SiteActive {
		t.Errorf("lumi-aif = %+v, want an active Finnish site with its accelerators counted", s)
	}
	code, table, _ := runGF(t, "sites", "--network", "eu", "--data", empty)
	if code != 0 || !strings.Contains(table, "lumi-aif") || !strings.HasPrefix(table, "ID ") {
		t.Errorf("gf sites --network eu: exit %d\n%s", code, table)
	}
	code, detail, _ := runGF(t, "sites", "--network", "eu", "--data", empty, "lumi-aif")
	if code != 0 || !strings.Contains(detail, "Pools:") {
		t.Errorf("gf sites --network eu lumi-aif: exit %d\n%s", code, detail)
	}
	code, _, stderr = runGF(t, "sites", "--network", "mars")
	if code != 2 || !strings.Contains(stderr, `--network "mars"`) || !strings.Contains(stderr, "eu") {
		t.Errorf("gf sites --network mars: exit %d, stderr %q; want exit 2 naming the flag and eu", code, stderr)
	}
}

// TestE2ECompletionFromServer completes job and site ids from a real gf
// serve, and names the caller's projects when one is unknown.
func TestE2ECompletionFromServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gf serve")
	}
	s := startServer(t)
	id := s.submit("--name", "sleeper", "--", "sleep", "60")
	defer s.gf("cancel", id.String())
	for name, args := range map[string][]string{
		"show":    {"__complete", "show", ""},
		"cancel":  {"__complete", "cancel", ""},
		"logs":    {"__complete", "logs", ""},
		"explain": {"__complete", "explain", ""},
	} {
		out := s.must(args...)
		if !strings.Contains(out, id.String()+"\tsleeper (") {
			t.Errorf("%s: gf %v = %q, want job %d described as sleeper", name, args, out, id)
		}
	}
	if out := s.must("__complete", "cancel", id.String(), ""); strings.Contains(out, id.String()+"\t") {
		t.Errorf("gf cancel %d offers %d again: %q", id, id, out)
	}
	if out := s.must("__complete", "show", id.String(), ""); strings.Contains(out, id.String()+"\t") {
		t.Errorf("gf show takes one job, yet a second is offered: %q", out)
	}
	for _, args := range [][]string{{"__complete", "site", "drain", ""}, {"__complete", "jobs", "--site", ""}, {"__complete", "sites", ""}} {
		if out := s.must(args...); !strings.Contains(out, "local\t") {
			t.Errorf("gf %v = %q, want the local site", args, out)
		}
	}
	// gf jobs --priority: one column per factor, and -o json carries them.
	waiting := s.submit("-a", "8", "--", "true") // waits behind sleeper's accelerator
	defer s.gf("cancel", waiting.String())
	var rows []struct {
		ID       core.JobID         `json:"id"`
		State    core.State         `json:"state"`
		Priority *priorityBreakdown `json:"priority"`
	}
	if err := json.Unmarshal([]byte(s.must("jobs", "--priority", "-ojson")), &rows); err != nil {
		t.Fatalf("gf jobs --priority -ojson: %v", err)
	}
	var found bool
	for _, r := range rows {
		if r.ID == waiting && r.State == core.StatePending {
			found = true
			if r.Priority == nil || len(r.Priority.Factors) == 0 || r.Priority.Factors[0].Name == "" {
				t.Errorf("pending job %d: priority %+v, want its factors by name", waiting, r.Priority)
			}
		}
	}
	if !found {
		t.Errorf("gf jobs --priority -ojson lacks pending job %d: %+v", waiting, rows)
	}
	table := s.must("jobs", "--priority")
	if head := strings.Fields(strings.SplitN(table, "\n", 2)[0]); len(head) < 10 || !strings.Contains(table, "AGE") {
		t.Errorf("gf jobs --priority header %v: want PRIORITY and one column per factor\n%s", head, table)
	}
	r := s.gf("submit", "--project", "nope", "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, `unknown project "nope"`) || !strings.Contains(r.stderr, "your projects are default (gf projects)") {
		t.Errorf("unknown project: %s\nwant the server's message and the caller's projects", r)
	}
}

// TestNextStep checks the hints added to the server's problems, with the
// projects asked of a real HTTP server on loopback.
func TestNextStep(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/projects" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items": [{"name": "nlp", "org": "tum"}, {"name": "default", "org": "gf"}]}`)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "gf_x")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		err  error
		want string // the whole message
	}{
		"unknown project": {
			err:  &client.Problem{Status: 422, Detail: `project: unknown project "nope"`, Errors: []client.FieldError{{Field: "project", Detail: `unknown project "nope"`}}},
			want: `project: unknown project "nope": your projects are default, nlp (gf projects)`,
		},
		"unknown project of a batch's second job": {
			err:  &client.Problem{Status: 422, Detail: "invalid jobs", Errors: []client.FieldError{{Field: "jobs[1].project", Detail: `unknown project "x"`}}},
			want: "invalid jobs\n  jobs[1].project: unknown project \"x\"\n  your projects are default, nlp (gf projects)",
		},
		"unknown site": {
			err:  &client.Problem{Status: 422, Detail: `site: unknown site "mars"`, Errors: []client.FieldError{{Field: "site", Detail: `unknown site "mars"`}}},
			want: `site: unknown site "mars": gf sites lists the sites`,
		},
		"unknown job":    {err: &client.Problem{Status: 404, Detail: "no job 999"}, want: "no job 999: gf jobs --all lists your jobs"},
		"refused token":  {err: &client.Problem{Status: 401, Detail: "missing or invalid bearer token"}, want: "missing or invalid bearer token: check --token or GF_TOKEN; gf tokens create makes a token, an administrator's gf users create a user with one"},
		"nothing to add": {err: &client.Problem{Status: 422, Detail: "walltime: too long"}, want: "walltime: too long"},
		"not a problem":  {err: errors.New("disk full"), want: "disk full"},
		"not started": {err: &client.Problem{Status: 409, Detail: "job 2 has not started: no output yet"},
			want: "job 2 has not started: no output yet: gf logs -f follows the output once the job starts; gf explain says why it waits"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := nextStep(c, tc.err)
			if got.Error() != tc.want {
				t.Errorf("nextStep = %q\nwant      %q", got.Error(), tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("nextStep(%v) no longer wraps the server's error", tc.err)
			}
		})
	}
}
