// Package browsertest runs real headless Chromium for tests, through
// chromedp: the web portal's end-to-end tests use it to drive pages, to
// check them for accessibility with axe-core, to list the hosts they load
// from, to collect console errors and Content-Security-Policy violations,
// and to keep screenshots as artifacts.
//
// It is a test-support package: only tests import it.
//
//	b := browsertest.New(t)                      // skips without Chromium (fails under CI=true)
//	browsertest.EnsureAxe(t)                     // npm ci of the pinned axe-core, once
//	err := chromedp.Do(b.Ctx, chromedp.Navigate(url))
//	vs, err := browsertest.Axe(b.Ctx)            // then browsertest.Serious(vs) must be empty
//	hosts := browsertest.ExternalHosts(url, b.Requests())
//	errs := b.Errors()                           // console errors, exceptions, CSP violations
//	browsertest.Screenshot(t, b.Ctx, "network")  // artifacts/screenshots/network.png
package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds everything a test does through Browser.Ctx: after it, every
// action fails instead of hanging until go test's own timeout.
const Timeout = 3 * time.Minute

// Flags are Chromium's command-line flags, one browser per test. Chromium
// starts headless, as root without its sandbox, without a GPU, and on this
// project's machines (no network but loopback) it must not open background
// connections of its own (QUIC, component updates, sync, field trials,
// first-run and safe-browsing fetches): they would fail, log noise, and show
// up among the page's requests. /dev/shm may be small in a container.
var Flags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync",
	"disable-dev-shm-usage",
}

// WindowWidth and WindowHeight are the browser window's size in pixels.
const (
	WindowWidth  = 1280
	WindowHeight = 900
)

// Browser is one headless Chromium with one tab, started for one test and
// stopped when the test ends. It records what the page does.
type Browser struct {
	// Ctx is the chromedp context of the tab: pass it to chromedp.Do and
	// chromedp.Run, Axe, WaitText and Screenshot. It is done Timeout after
	// New, or when the test ends.
	Ctx context.Context

	mu       sync.Mutex
	requests []string
	errors   []string
}

// New starts Chromium for the test and returns it with its tab open. Without
// Chromium it skips the test, or fails it when CI=true
// (scripts/test.d/40-chromium.sh installs Debian's chromium). The browser,
// its temporary profile and everything recorded go away when the test ends.
func New(t testing.TB) *Browser {
	t.Helper()
	path := FindChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(WindowWidth, WindowHeight),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	b := &Browser{}
	var (
		logMu   sync.Mutex
		stopped bool
	)
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !stopped { // t.Logf after the test ends panics
			t.Logf("chromedp: "+format, args...)
		}
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, tabCancel := chromedp.NewContext(allocCtx,
		chromedp.WithListener(b.record), chromedp.WithErrorf(logf))
	ctx, cancel := context.WithTimeout(tabCtx, Timeout)
	t.Cleanup(func() {
		cancel()
		tabCancel()
		allocCancel() // waits for Chromium to exit
		logMu.Lock()
		stopped = true
		logMu.Unlock()
	})
	// The first action starts the browser; it must run on the tab's own
	// context, whose end stops the browser (see chromedp.Run).
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	b.Ctx = ctx
	return b
}

// FindChromium returns the Chromium to run: $GF_CHROMIUM, else
// /usr/bin/chromium, /usr/bin/chromium-headless-shell, or chromium on PATH.
// When there is none it skips the test, or fails it when CI=true.
func FindChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GF_CHROMIUM"); p != "" {
		if !executable(p) {
			t.Fatalf("GF_CHROMIUM=%s: not an executable file", p)
		}
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-headless-shell"} {
		if executable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	prerequisite(t, "no Chromium (GF_CHROMIUM, /usr/bin/chromium, /usr/bin/chromium-headless-shell, chromium on PATH); scripts/test.d/40-chromium.sh installs Debian's chromium")
	return ""
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// prerequisite reports a missing prerequisite: a failure under CI=true (the
// house rule: CI must not pass by skipping), a skip otherwise.
func prerequisite(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Requests returns the URL of every request the tab has sent, in order,
// documents, scripts, styles, images, fetches and event streams alike. A
// data: URL is cut to its first 64 bytes.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// Errors returns what went wrong in the page, in order: console.error
// calls ("console.error: ..."), uncaught exceptions ("exception: ..."), and
// the browser's log entries of level error ("log <source>: ..."), which is
// where Content-Security-Policy violations and failed loads appear.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors)
}

// record is chromedp's listener: it runs on the tab's reader goroutine, so
// it only appends.
func (b *Browser) record(ev any) {
	var req, msg string
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		req = ev.Request.URL
		if strings.HasPrefix(req, "data:") && len(req) > 64 {
			req = req[:64]
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			parts = append(parts, remoteString(a))
		}
		msg = "console.error: " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		msg = "exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + firstLine(d.Exception.Description)
		}
		if d.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log %s: %s", e.Source, e.Text)
		if e.URL != "" {
			msg += " (" + e.URL + ")"
		}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if req != "" {
		b.requests = append(b.requests, req)
	}
	if msg != "" {
		b.errors = append(b.errors, msg)
	}
}

// remoteString is a console argument as the console would print it.
func remoteString(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		if s, err := strconv.Unquote(string(o.Value)); err == nil && o.Type == runtime.RemoteObjectTypeString {
			return s
		}
		return string(o.Value)
	}
	if o.UnserializableValue != "" {
		return string(o.UnserializableValue)
	}
	return firstLine(o.Description)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// ExternalHosts returns, sorted and once each, the hosts (host:port as in
// the URL) of the requests that do not go to the page's own host. data:,
// blob: and about: URLs load nothing from a host and do not count; a URL
// that does not parse is returned whole, so that it is noticed.
func ExternalHosts(pageURL string, requests []string) []string {
	own := ""
	if u, err := url.Parse(pageURL); err == nil {
		own = u.Host
	}
	var hosts []string
	for _, r := range requests {
		u, err := url.Parse(r)
		switch {
		case err != nil:
			hosts = append(hosts, r)
		case u.Scheme == "data" || u.Scheme == "blob" || u.Scheme == "about":
		case u.Host != own:
			hosts = append(hosts, u.Host)
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}
