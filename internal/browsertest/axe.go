package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxeTags are the axe-core rule tags Axe runs: WCAG 2.0 and 2.1, levels A
// and AA.
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// Violation is one axe-core rule that the page breaks.
type Violation struct {
	ID      string `json:"id"`     // the rule, e.g. "image-alt"
	Impact  string `json:"impact"` // "minor", "moderate", "serious" or "critical"
	Help    string `json:"help"`   // what the rule asks, in one line
	HelpURL string `json:"helpUrl"`
	Nodes   []Node `json:"nodes"`
}

// Node is one element that breaks a rule.
type Node struct {
	// Target is the CSS selector of the element; inside an iframe or a
	// shadow root, the selectors of each level joined by " >>> ".
	Target         string `json:"target"`
	HTML           string `json:"html"`
	FailureSummary string `json:"failureSummary"`
}

// String is the violation as a test failure shows it: the rule, its impact
// and help, then each element with what to fix.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n  %s: %s", n.Target, strings.ReplaceAll(n.FailureSummary, "\n", " "))
	}
	return b.String()
}

// Serious keeps the violations of impact serious or critical: the ones the
// portal must have none of.
func Serious(vs []Violation) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

// axeRun runs axe on the whole document and keeps what Violation holds.
const axeRun = `axe.run(document, {runOnly: {type: 'tag', values: %s}}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map(n => ({
    target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : String(t)).join(' >>> '),
    html: n.html, failureSummary: n.failureSummary || '',
  })),
})))`

// Axe injects axe-core into the tab's current page and returns the WCAG 2.1
// A and AA violations it finds (AxeTags). The script goes in through the
// DevTools protocol, which the page's Content-Security-Policy does not
// govern, so a page with a strict CSP is checked as served. Call EnsureAxe
// once first; run Axe after the page has loaded.
func Axe(ctx context.Context) ([]Violation, error) {
	src, err := axeSource()
	if err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		return nil, fmt.Errorf("injecting axe-core: %w", err)
	}
	tags, _ := json.Marshal(AxeTags)
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](fmt.Sprintf(axeRun, tags), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe-core: %w", err)
	}
	return vs, nil
}

var axeCache struct {
	sync.Mutex
	src string
}

// axeSource is axe.min.js of the pinned axe-core, read once.
func axeSource() (string, error) {
	axeCache.Lock()
	defer axeCache.Unlock()
	if axeCache.src != "" {
		return axeCache.src, nil
	}
	dir, err := axeDir()
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("axe-core not installed (call browsertest.EnsureAxe first): %w", err)
	}
	axeCache.src = string(raw)
	return axeCache.src, nil
}

// axeDir is internal/browsertest/testdata/axe, whatever package's test runs.
func axeDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "internal", "browsertest", "testdata", "axe"), nil
}

// EnsureAxe installs the axe-core that testdata/axe/package-lock.json pins
// (npm ci --no-audit --no-fund) when node_modules does not hold that
// version. Without npm, or when npm ci fails, it skips the test, or fails it
// when CI=true (scripts/test.d/30-node.sh installs Debian's npm). Test
// binaries of several packages may call it at once: a file lock makes one
// install and the others wait.
func EnsureAxe(t testing.TB) {
	t.Helper()
	dir, err := axeDir()
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := pinnedAxe(dir)
	if err != nil {
		t.Fatal(err)
	}
	if installedAxe(dir) == pinned {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		prerequisite(t, "npm not found (scripts/test.d/30-node.sh installs Debian's nodejs and npm)")
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "gigafactory-browsertest-axe.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if installedAxe(dir) == pinned { // another test binary installed it meanwhile
		return
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		prerequisite(t, "npm ci in internal/browsertest/testdata/axe: %v\n%s", err, out)
	}
	if got := installedAxe(dir); got != pinned {
		t.Fatalf("npm ci in %s installed axe-core %q, package.json pins %q", dir, got, pinned)
	}
}

// pinnedAxe is the axe-core version package.json asks for.
func pinnedAxe(dir string) (string, error) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(raw, &pkg)
	}
	if err == nil && pkg.Dependencies["axe-core"] == "" {
		err = errors.New("no dependency axe-core")
	}
	if err != nil {
		return "", fmt.Errorf("testdata/axe/package.json does not pin axe-core: %w", err)
	}
	return pkg.Dependencies["axe-core"], nil
}

// installedAxe is the axe-core version in node_modules, "" if none.
func installedAxe(dir string) string {
	var pkg struct {
		Version string `json:"version"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "package.json"))
	if err != nil || json.Unmarshal(raw, &pkg) != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")); err != nil {
		return ""
	}
	return pkg.Version
}

// lockFile takes an exclusive lock on the file, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
