package jobpath

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
	"golang.org/x/sys/unix"
)

// Driver options that name directories jobs' paths may lie under.
const (
	OptAllowedRoots = "allowed_roots" // local and slurm: extra roots, colon- or comma-separated
	OptWorkDir      = "workdir"       // slurm: working directory of jobs that give none
	OptOutputDir    = "output_dir"    // slurm: where jobs that name no output or error write them
)

// SlurmDefaultWorkDir is a Slurm site's workdir when its driver_options set
// none; the slurm driver uses the same value.
const SlurmDefaultWorkDir = "/tmp"

// SiteRoots returns the roots a job's absolute workdir, output and error
// paths must lie under on site, for Validate at submission:
//
//   - local: driver_options allowed_roots;
//   - slurm: allowed_roots, plus the driver's workdir (default /tmp) and
//     output_dir (default the workdir), where jobs that name no paths go;
//   - sim: nil, as nothing runs (no check is needed).
//
// A malformed option, or a driver it does not know, is an error naming it.
func SiteRoots(site core.Site) ([]string, error) {
	o := site.DriverOptions
	allowed, err := ParseRoots(o[OptAllowedRoots])
	if err != nil {
		return nil, fmt.Errorf("site %s: driver_options.%s: %w", site.ID, OptAllowedRoots, err)
	}
	switch site.Driver {
	case "local":
		return allowed, nil
	case "sim":
		return nil, nil
	case "slurm":
		wd := o[OptWorkDir]
		if wd == "" {
			wd = SlurmDefaultWorkDir
		}
		out := o[OptOutputDir]
		if out == "" {
			out = wd
		}
		if err := CheckRoot(wd); err != nil {
			return nil, fmt.Errorf("site %s: driver_options.%s: %w", site.ID, OptWorkDir, err)
		}
		if err := CheckRoot(out); err != nil {
			return nil, fmt.Errorf("site %s: driver_options.%s: %w", site.ID, OptOutputDir, err)
		}
		return Roots(allowed, wd, out), nil
	}
	return nil, fmt.Errorf("site %s: driver %q: no path rules for it", site.ID, site.Driver)
}

// CheckRoot checks that dir can serve as a root: absolute, no ".."
// element, no NUL byte, at most MaxLen bytes.
func CheckRoot(dir string) error {
	switch {
	case !path.IsAbs(dir):
		return fmt.Errorf("%q is not absolute", dir)
	case strings.IndexByte(dir, 0) >= 0 || len(dir) > MaxLen:
		return fmt.Errorf("%q is not a usable path", dir)
	}
	for _, el := range strings.Split(dir, "/") {
		if el == ".." {
			return fmt.Errorf("%q has a .. element", dir)
		}
	}
	return nil
}

// Roots returns allowed followed by dirs, each cleaned, without
// repetitions and in the order given. The dirs must have passed CheckRoot.
func Roots(allowed []string, dirs ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range append(append([]string(nil), allowed...), dirs...) {
		r = path.Clean(r)
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// OpenLogUnder opens the log file at the absolute path p for reading, if p
// lies under one of roots, under OpenLog's rules: no symbolic link on the
// way down from the root (the deepest root p lies under, opened as the
// operator configured it), a regular file with one link, owned by uid
// unless uid is -1. field names the JobSpec field p came from; a p outside
// the roots or with a ".." element is an *Error naming it. A missing root
// or file gives an error wrapping ENOENT (errors.Is(err, fs.ErrNotExist)).
func OpenLogUnder(field, p string, roots []string, uid int) (*os.File, error) {
	if !path.IsAbs(p) {
		return nil, &Error{Field: field, Msg: fmt.Sprintf("%q is not absolute", p)}
	}
	if err := Check(field, p, roots, true); err != nil {
		return nil, err
	}
	deepest := append([]string(nil), roots...)
	sort.SliceStable(deepest, func(i, j int) bool { return len(path.Clean(deepest[i])) > len(path.Clean(deepest[j])) })
	root, rel, _ := Within(p, deepest)
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootfd)
	f, err := OpenLog(rootfd, rel, uid)
	if err != nil {
		return nil, err
	}
	return f, nil
}
