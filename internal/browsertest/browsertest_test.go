package browsertest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

const strictCSP = "default-src 'self'; script-src 'self'"

// pages is a little site on loopback: each path is one page (served as
// text/html unless it ends in .js), with the CSP header when csp is set.
var pages = map[string]struct {
	body string
	csp  bool
}{
	"/clean": {body: `<!doctype html><html lang="en"><head><title>Clean</title></head>
<body><main><h1>Clean</h1><p>Nothing wrong here.</p>
<form><label for="q">Query</label> <input id="q" name="q" type="text"></form></main></body></html>`},
	"/broken": {body: `<!doctype html><html lang="en"><head><title>Broken</title></head>
<body><main><h1>Broken</h1><img src="/pixel.gif"><input type="text" name="q"></main></body></html>`},
	// The same faults behind a strict CSP: Axe must still get in.
	"/broken-csp": {csp: true, body: `<!doctype html><html lang="en"><head><title>Broken</title></head>
<body><main><h1>Broken</h1><img src="/pixel.gif"><input type="text" name="q"></main></body></html>`},
	"/external": {body: `<!doctype html><html lang="en"><head><title>External</title>
<script src="https://example.invalid/x.js"></script><script src="/local.js"></script></head>
<body><main><h1>External</h1><img alt="dot" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>`},
	"/inline": {csp: true, body: `<!doctype html><html lang="en"><head><title>Inline</title></head>
<body><main><h1 id="h">Inline</h1><script>document.getElementById('h').textContent = 'ran';</script></main></body></html>`},
	"/errors": {body: `<!doctype html><html lang="en"><head><title>Errors</title><script src="/errors.js"></script></head>
<body><main><h1>Errors</h1></main></body></html>`},
	"/later": {csp: true, body: `<!doctype html><html lang="en"><head><title>Later</title><script src="/later.js" defer></script></head>
<body><main><p id="status">pending</p></main></body></html>`},
	"/local.js":  {body: `document.documentElement.dataset.local = "yes";`},
	"/errors.js": {body: `console.error("boom", 42); throw new Error("kaboom");`},
	"/later.js":  {body: `setTimeout(() => { document.getElementById("status").textContent = "job 7 finished"; }, 300);`},
}

// server serves pages on loopback, and a GIF and a favicon so that no load
// fails.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pixel.gif", "/favicon.ico":
			w.Header().Set("Content-Type", "image/gif")
			w.Write(gif)
			return
		}
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if p.csp {
			w.Header().Set("Content-Security-Policy", strictCSP)
		}
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.Write([]byte(p.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func navigate(t *testing.T, b *Browser, url string) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
}

func ids(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	slices.Sort(out)
	return out
}

// TestAxe checks that Axe finds the faults of a broken page, also behind a
// strict CSP, and none on a clean one.
func TestAxe(t *testing.T) {
	srv := server(t)
	EnsureAxe(t)
	b := New(t)
	tests := map[string]struct {
		path        string
		wantSerious []string
	}{
		"clean page":          {path: "/clean", wantSerious: nil},
		"broken page":         {path: "/broken", wantSerious: []string{"image-alt", "label"}},
		"broken page own CSP": {path: "/broken-csp", wantSerious: []string{"image-alt", "label"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			navigate(t, b, srv.URL+tc.path)
			vs, err := Axe(b.Ctx)
			if err != nil {
				t.Fatal(err)
			}
			serious := Serious(vs)
			if diff := cmp.Diff(tc.wantSerious, ids(serious)); diff != "" {
				t.Errorf("serious violations (-want +got):\n%s\nall: %v", diff, vs)
			}
			for _, v := range serious {
				if v.Help == "" || len(v.Nodes) == 0 || v.Nodes[0].Target == "" || v.Nodes[0].FailureSummary == "" {
					t.Errorf("violation without help, target or summary: %#v", v)
				}
			}
		})
	}
	// Axe went in through DevTools, not through the page: the CSP page's
	// own log has no violation of its policy.
	for _, e := range b.Errors() {
		if strings.Contains(e, "Content Security Policy") {
			t.Errorf("injecting axe-core broke the page's CSP: %s", e)
		}
	}
}

// TestRequests checks that every request is recorded and that
// ExternalHosts names the one foreign host.
func TestRequests(t *testing.T) {
	srv := server(t)
	b := New(t)
	navigate(t, b, srv.URL+"/external")
	reqs := b.Requests()
	for _, want := range []string{srv.URL + "/external", "https://example.invalid/x.js", srv.URL + "/local.js"} {
		if !slices.Contains(reqs, want) {
			t.Errorf("requests %q lack %s", reqs, want)
		}
	}
	if diff := cmp.Diff([]string{"example.invalid"}, ExternalHosts(srv.URL+"/external", reqs)); diff != "" {
		t.Errorf("external hosts (-want +got):\n%s", diff)
	}
	navigate(t, b, srv.URL+"/clean")
	if got := ExternalHosts(srv.URL+"/clean", b.Requests()[len(reqs):]); len(got) != 0 {
		t.Errorf("clean page: external hosts %q", got)
	}
}

func TestExternalHosts(t *testing.T) {
	const page = "http://127.0.0.1:8080/jobs"
	tests := map[string]struct {
		requests []string
		want     []string
	}{
		"none":       {nil, nil},
		"own host":   {[]string{page, "http://127.0.0.1:8080/static/app.js"}, nil},
		"data, blob": {[]string{"data:image/png;base64,AAAA", "blob:http://127.0.0.1:8080/0f0e", "about:blank"}, nil},
		"other port": {[]string{"http://127.0.0.1:9090/x"}, []string{"127.0.0.1:9090"}},
		"cdn and fonts, once each, sorted": {
			[]string{"https://fonts.example/a.woff2", "https://cdn.example/x.js", "https://cdn.example/y.js"},
			[]string{"cdn.example", "fonts.example"},
		},
		"unparsable": {[]string{"http://[::1"}, []string{"http://[::1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ExternalHosts(page, tc.requests)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrors checks that CSP violations, console errors and uncaught
// exceptions are recorded, and that a clean page records none.
func TestErrors(t *testing.T) {
	srv := server(t)
	b := New(t)
	tests := []struct {
		path string
		want []string // substrings, each of some error
	}{
		{path: "/clean"},
		{path: "/inline", want: []string{"Content Security Policy"}},
		{path: "/errors", want: []string{"console.error: boom 42", "kaboom"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			before := len(b.Errors())
			navigate(t, b, srv.URL+tc.path)
			// Navigate returns after the load event: the page's
			// scripts have run, or been refused, by then.
			got := b.Errors()[before:]
			if len(tc.want) == 0 && len(got) != 0 {
				t.Errorf("errors on a clean page: %q", got)
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(e string) bool { return strings.Contains(e, w) }) {
					t.Errorf("errors %q: none mentions %q", got, w)
				}
			}
		})
	}
	// The CSP did its job: the inline script did not run.
	navigate(t, b, srv.URL+"/inline")
	if h, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById('h').textContent`)); err != nil || h != "Inline" {
		t.Errorf("heading %q (%v): the inline script ran despite the CSP", h, err)
	}
}

func TestWaitText(t *testing.T) {
	srv := server(t)
	b := New(t)
	navigate(t, b, srv.URL+"/later")
	if err := WaitText(b.Ctx, "#status", "finished"); err != nil {
		t.Error(err)
	}
	short, cancel := context.WithTimeout(b.Ctx, 500*time.Millisecond)
	defer cancel()
	if err := WaitText(short, "#nothing", "x"); err == nil || !strings.Contains(err.Error(), "no element matches") {
		t.Errorf("missing element: err = %v, want one naming it", err)
	}
	short, cancel = context.WithTimeout(b.Ctx, 500*time.Millisecond)
	defer cancel()
	if err := WaitText(short, "#status", "failed"); err == nil || !strings.Contains(err.Error(), "job 7 finished") {
		t.Errorf("wrong text: err = %v, want one quoting the text", err)
	}
}

func TestScreenshot(t *testing.T) {
	srv := server(t)
	dir := t.TempDir()
	t.Setenv("GF_ARTIFACTS", dir)
	b := New(t)
	navigate(t, b, srv.URL+"/clean")
	path := Screenshot(t, b.Ctx, "clean")
	if want := filepath.Join(dir, "clean.png"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Errorf("%s: %d bytes, not a PNG of a page", path, len(png))
	}
}

func TestArtifactsDirDefault(t *testing.T) {
	t.Setenv("GF_ARTIFACTS", "")
	dir, err := ArtifactsDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "artifacts", "screenshots"); dir != want {
		t.Errorf("ArtifactsDir() = %s, want %s", dir, want)
	}
}
