package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

// defaultServerURL is where a local gf serve listens unless told otherwise.
const defaultServerURL = "http://127.0.0.1:8080"

// Files a local gf serve writes into its data directory.
const (
	adminTokenFile = "admin.token" // the administrator's API token
	addrFile       = "gf.addr"     // the URL the server listens on
)

// errNoServer is returned when neither flags, environment nor a local data
// directory say which control plane to talk to.
var errNoServer = errors.New("no server: set GF_URL and GF_TOKEN, or run gf serve in this directory")

// endpoint is where the CLI talks to, and how it found out.
type endpoint struct {
	url, token string
	from       string // "--url", "DATA/gf.addr", "default"
}

// discover decides the server and token: --url/GF_URL and --token/GF_TOKEN
// when set; for what is missing, a local server's data directory (--data,
// default ./gf-data): admin.token, and gf.addr falling back to
// 127.0.0.1:8080. With nothing set and no admin.token it fails with
// errNoServer.
func discover(env *cliEnv) (endpoint, error) {
	ep := endpoint{url: strings.TrimSpace(env.url), token: strings.TrimSpace(env.token), from: "--url/GF_URL"}
	dir := env.data
	if dir == "" {
		dir = "gf-data"
	}
	if ep.token == "" {
		if b, err := os.ReadFile(filepath.Join(dir, adminTokenFile)); err == nil {
			ep.token = strings.TrimSpace(string(b))
		}
		if ep.token == "" {
			ep = withLogin(ep) // gf login's token (cli_login.go)
		}
		if ep.token == "" && ep.url == "" {
			return ep, errNoServer
		}
		// With --url but no token the request goes out without one, and
		// the server's 401 says what is missing.
	}
	if ep.url == "" {
		ep.url, ep.from = defaultServerURL, "the default address"
		if b, err := os.ReadFile(filepath.Join(dir, addrFile)); err == nil && strings.TrimSpace(string(b)) != "" {
			ep.url, ep.from = strings.TrimSpace(string(b)), filepath.Join(dir, addrFile)
		}
	}
	return ep, nil
}

// connect returns a client for the discovered server.
func connect(env *cliEnv) (*client.Client, endpoint, error) {
	ep, err := discover(env)
	if err != nil {
		return nil, ep, err
	}
	c, err := client.New(ep.url, ep.token, client.WithUserAgent("gf/"+version))
	if err != nil {
		return nil, ep, fmt.Errorf("%s: %w", ep.from, err)
	}
	return c, ep, nil
}

// withClient validates -o, connects and runs f, turning "connection
// refused" into a sentence that says which server was tried and why.
func withClient(env *cliEnv, f func(c *client.Client) error) error {
	if err := checkOutput(env); err != nil {
		return err
	}
	c, ep, err := connect(env)
	if err != nil {
		return err
	}
	err = f(c)
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("cannot reach the control plane at %s (from %s): %v; is gf serve running?", ep.url, ep.from, op.Err)
	}
	return nextStep(c, err)
}

// hintTimeout bounds the request nextStep may make to name the caller's
// projects.
const hintTimeout = 5 * time.Second

// nextStep keeps the server's message in err and adds what to do next,
// for the mistakes a user can mend: an unknown project (naming the
// caller's projects), site or job, a token the server refuses.
func nextStep(c *client.Client, err error) error {
	var p *client.Problem
	if !errors.As(err, &p) {
		return err
	}
	field := func(name, prefix string) bool {
		for _, fe := range p.Errors {
			if (fe.Field == name || strings.HasSuffix(fe.Field, "."+name)) && strings.HasPrefix(fe.Detail, prefix) {
				return true
			}
		}
		return false
	}
	var hint string
	switch {
	case field("project", "unknown project"):
		hint = projectsHint(c)
	case field("site", "unknown site"):
		hint = "gf sites lists the sites"
	case p.Status == http.StatusUnauthorized:
		hint = "check --token or GF_TOKEN; gf tokens create makes a token, an administrator's gf users create a user with one"
	case p.Status == http.StatusNotFound && strings.Contains(p.Detail, "job"):
		hint = "gf jobs --all lists your jobs"
	case p.Status == http.StatusNotFound && strings.Contains(p.Detail, "project"):
		hint = projectsHint(c)
	case p.Status == http.StatusNotFound && strings.Contains(p.Detail, "site"):
		hint = "gf sites lists the sites"
	case p.Status == http.StatusConflict && strings.Contains(p.Detail, "has not started"):
		hint = "gf logs -f follows the output once the job starts; gf explain says why it waits"
	case p.Status == http.StatusTooManyRequests:
		hint = "too many requests with this token: wait a moment and retry"
	}
	if hint == "" {
		return err
	}
	return &hintedError{err: err, hint: hint}
}

// projectsHint names the projects the caller may charge, or says which
// command lists them when the server does not answer.
func projectsHint(c *client.Client) string {
	ctx, cancel := context.WithTimeout(context.Background(), hintTimeout)
	defer cancel()
	ps, err := c.Projects(ctx, "")
	if err != nil || len(ps) == 0 {
		return "gf projects lists yours"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	sort.Strings(names)
	return "your projects are " + strings.Join(names, ", ") + " (gf projects)"
}

// hintedError is an error with what to do next.
type hintedError struct {
	err  error
	hint string
}

// Error puts the hint after a one-line message, as in `unknown project
// "x": your projects are a, b (gf projects)`, and under a longer one.
func (e *hintedError) Error() string {
	msg := e.err.Error()
	if strings.Contains(msg, "\n") {
		return msg + "\n  " + e.hint
	}
	return msg + ": " + e.hint
}
func (e *hintedError) Unwrap() error { return e.err }

// oneJob reads the single JOB argument of show, logs and explain.
func oneJob(env *cliEnv, args []string) (core.JobID, error) {
	if len(args) != 1 {
		return 0, errUsage
	}
	return parseJobID(env, args[0])
}

// parseJobID reads a job id as users write it: "42", or "42_7" for task 7
// of array 42, which the server resolves to the task's own id.
func parseJobID(env *cliEnv, s string) (core.JobID, error) {
	ref, err := parseJobRef(env, s)
	if err != nil {
		return 0, err
	}
	if !strings.Contains(ref, "_") {
		n, _ := strconv.ParseInt(ref, 10, 64)
		return core.JobID(n), nil
	}
	var id core.JobID
	err = withClient(env, func(c *client.Client) error {
		j, err := c.GetJobRef(context.Background(), ref)
		if err != nil {
			return err
		}
		id = j.ID
		return nil
	})
	return id, err
}

// parseJobRef checks the syntax of a job id as users write it ("42",
// "42_7") and returns it trimmed.
func parseJobRef(env *cliEnv, s string) (string, error) {
	s = strings.TrimSpace(s)
	base, task, isTask := strings.Cut(s, "_")
	n, err := strconv.ParseInt(base, 10, 64)
	bad := err != nil || n <= 0
	if isTask {
		t, err := strconv.Atoi(task)
		bad = bad || err != nil || t < 0
	}
	if bad {
		return "", usagef(env, "invalid job id %q: want a positive number such as 42, or 42_7 for task 7 of array 42", s)
	}
	return s, nil
}
