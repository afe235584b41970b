package securitytest

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/api"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/store"
)

// fuzzStack is the whole server in this process: the API handler over a
// real SQLite store, the daemon and a real local site, whose jobs run.
type fuzzStack struct {
	root    string // everything the stack may write lies under root
	handler http.Handler
	token   string
	stop    func()
}

func newFuzzStack(tb testing.TB) *fuzzStack {
	tb.Helper()
	ctx := context.Background()
	root := worldDir(tb)
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(data, "gf.db"))
	if err != nil {
		tb.Fatal(err)
	}
	site := core.Site{ID: "local", Kind: "local", Country: "DE", Driver: "local",
		DefaultWalltime: core.Duration(3 * time.Second), MaxWalltime: core.Duration(10 * time.Second),
		Pools: []core.Pool{{Name: "node", Model: "virtual", AccelPerNode: 4, Nodes: 1}}}
	ld, err := local.New(local.Options{Dir: filepath.Join(data, "sites", "local"), KillGrace: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Store: st, Sites: []core.Site{site}, Drivers: map[string]driver.Driver{"local": ld}, PollEvery: 20 * time.Millisecond, Engine: engine.DefaultConfig()})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	for _, err := range []error{
		st.CreateOrg(ctx, core.Org{Name: "acme", Kind: core.OrgStartup, Country: "DE", CreatedAt: now}),
		st.CreateProject(ctx, core.Project{Name: "default", Org: "acme", CreatedAt: now}),
		st.CreateUser(ctx, core.User{Name: "alice", Org: "acme", Role: core.RoleUser, CreatedAt: now}),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	tok, hash := api.NewToken()
	if err := st.CreateToken(ctx, "alice", hash, "fuzz"); err != nil {
		tb.Fatal(err)
	}
	if err := d.Recover(ctx); err != nil {
		tb.Fatal(err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(loopCtx) }()
	fs := &fuzzStack{root: root, token: tok, handler: api.New(d, nil, "fuzz", api.WithRateLimit(api.RateLimit{})).Handler()}
	fs.stop = func() {
		cancel()
		<-done
		_ = ld.Close()
		_ = st.Close()
	}
	return fs
}

// strays lists the files under root that lie outside the places the stack
// owns: the database, and the local site's job and state directories.
func (s *fuzzStack) strays() []string {
	var out []string
	site := filepath.Join(s.root, "data", "sites", "local")
	_ = filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch {
		case strings.HasPrefix(p, filepath.Join(site, "jobs")+"/"), strings.HasPrefix(p, filepath.Join(site, "state")+"/"):
		case strings.HasPrefix(filepath.Base(p), "gf.db") && filepath.Dir(p) == filepath.Join(s.root, "data"):
		default:
			out = append(out, p)
		}
		return nil
	})
	return out
}

// FuzzSubmit sends arbitrary bodies to POST /api/v1/jobs through the real
// handler, as an ordinary member. No input may crash the server or get a
// 5xx, and no file may appear outside the job directories, whatever paths
// the spec names. Run it for two minutes with
//
//	go test ./internal/securitytest -run '^$' -fuzz FuzzSubmit -fuzztime 2m
func FuzzSubmit(f *testing.F) {
	if testing.Short() {
		f.Skip("runs jobs")
	}
	for _, seed := range []string{
		`{"command":["echo","hi"]}`,
		`{"command":["sh","-c","echo x > f"],"output":"out-%j.txt","error":"err-%x.txt","name":"n"}`,
		`{"command":["true"],"output":"../../../../gf.db"}`,
		`{"command":["true"],"error":"/etc/passwd","workdir":"/nonexistent"}`,
		`{"command":["true"],"workdir":"../..","output":"%x/%x","name":".."}`,
		`{"script":"#!/bin/sh\necho hi\n","accelerators":2,"walltime":"1s"}`,
		`{"command":["true"],"env":{"A":"b","PATH":"/x"},"residency":["DE"],"qos":"normal"}`,
		`{"command":["true"],"output":"/proc/self/root/tmp/x","accelerators":-1}`,
		`{"command":["true"],"output":"a\u0000b"}`,
		`{"command":[],"script":""}`,
		`[]`, `null`, `{"command":"echo"}`, `{"accelerators":1e309}`,
	} {
		f.Add([]byte(seed))
	}
	stack := newFuzzStack(f)
	f.Cleanup(func() {
		stack.stop()
		if s := stack.strays(); len(s) > 0 {
			f.Errorf("files outside the job directories: %v", s)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/jobs", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+stack.token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		stack.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body.String())
		}
		if s := stack.strays(); len(s) > 0 {
			t.Fatalf("%q: files outside the job directories: %v", body, s)
		}
	})
}
