package jobpath

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/google/go-cmp/cmp"
)

func TestSiteRoots(t *testing.T) {
	tests := map[string]struct {
		driver string
		opts   map[string]string
		want   []string
		err    string // in the error; "" for none
	}{
		"local none":         {"local", nil, nil, ""},
		"local roots":        {"local", map[string]string{"allowed_roots": "/srv/a/:/srv/b"}, []string{"/srv/a", "/srv/b"}, ""},
		"local bad root":     {"local", map[string]string{"allowed_roots": "srv"}, nil, "allowed_roots"},
		"slurm defaults":     {"slurm", nil, []string{"/tmp"}, ""},
		"slurm workdir":      {"slurm", map[string]string{"workdir": "/scratch/gf"}, []string{"/scratch/gf"}, ""},
		"slurm all":          {"slurm", map[string]string{"allowed_roots": "/srv/a,/w", "workdir": "/w", "output_dir": "/logs/"}, []string{"/srv/a", "/w", "/logs"}, ""},
		"slurm relative wd":  {"slurm", map[string]string{"workdir": "jobs"}, nil, "workdir"},
		"slurm output ..":    {"slurm", map[string]string{"output_dir": "/a/../etc"}, nil, "output_dir"},
		"slurm bad root":     {"slurm", map[string]string{"allowed_roots": "/a/../b"}, nil, "allowed_roots"},
		"sim":                {"sim", map[string]string{"allowed_roots": "/srv"}, nil, ""},
		"unknown driver":     {"k8s", nil, nil, `driver "k8s"`},
		"workdir with colon": {"slurm", map[string]string{"workdir": "/a:b"}, []string{"/a:b"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := SiteRoots(core.Site{ID: "s", Driver: tc.driver, DriverOptions: tc.opts})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SiteRoots = %v, %v; want an error naming %s", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("roots (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenLogUnder: the path is walked from the deepest root it lies
// under, so a symlink the operator made a root is usable, while the same
// link below a shallower root is refused.
func TestOpenLogUnder(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	must(t, os.MkdirAll(real, 0o700))
	must(t, os.Symlink(real, filepath.Join(base, "link")))
	must(t, os.WriteFile(filepath.Join(real, "f.out"), []byte("log\n"), 0o600))
	uid := os.Geteuid()
	p := filepath.Join(base, "link", "f.out")

	f, err := OpenLogUnder(FieldOutput, p, []string{base, filepath.Join(base, "link")}, uid)
	if err != nil {
		t.Fatalf("under the link as a root: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "log\n" {
		t.Errorf("read %q", b)
	}
	if f, err := OpenLogUnder(FieldOutput, p, []string{base}, uid); err == nil {
		f.Close()
		t.Error("a symlink below the root was followed")
	}
	var pe *Error
	if _, err := OpenLogUnder(FieldError, "/etc/passwd", []string{base}, uid); !errors.As(err, &pe) || pe.Field != FieldError {
		t.Errorf("outside the roots: %v, want an *Error naming error", err)
	}
	if _, err := OpenLogUnder(FieldOutput, "f.out", []string{real}, uid); err == nil {
		t.Error("a relative path was opened")
	}
	if _, err := OpenLogUnder(FieldOutput, filepath.Join(base, "gone", "x"), []string{filepath.Join(base, "gone")}, uid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v, want ErrNotExist", err)
	}
}
