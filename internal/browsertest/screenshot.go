package browsertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ArtifactsDir is where Screenshot writes: $GF_ARTIFACTS when set, else
// artifacts/screenshots under the repository root (the directory holding
// go.mod, found by walking up from the working directory; artifacts/ is
// ignored by git).
func ArtifactsDir() (string, error) {
	if d := os.Getenv("GF_ARTIFACTS"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "artifacts", "screenshots"), nil
}

// RepoRoot is the nearest directory at or above the working directory that
// holds go.mod. A test runs in its package's directory, so this is the
// repository's root.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

var screenshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Screenshot writes a full-page PNG of the tab to ArtifactsDir as name.png
// (name is a file name of letters, digits, '.', '_' and '-'; ".png" is
// added when missing) and returns its path. A failure fails the test.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	if !screenshotName.MatchString(name) {
		t.Fatalf("screenshot name %q: want letters, digits, '.', '_' and '-' only", name)
	}
	if !strings.HasSuffix(name, ".png") {
		name += ".png"
	}
	dir, err := ArtifactsDir()
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	return path
}
