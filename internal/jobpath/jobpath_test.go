package jobpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"golang.org/x/sys/unix"
)

// world is a server's layout in miniature: a data directory with the
// secrets an attacker wants, an allowed root, a sibling of the root whose
// name starts like it, and a job directory.
type world struct {
	base, data, root, evil, job string
}

const (
	dbText    = "the database\n"
	tokenText = "gf_admin_secret\n"
)

func newWorld(t *testing.T) world {
	t.Helper()
	base := t.TempDir()
	w := world{base: base, data: filepath.Join(base, "data"), root: filepath.Join(base, "root"),
		evil: filepath.Join(base, "root-evil"), job: filepath.Join(base, "data", "sites", "s", "jobs", "7")}
	for _, d := range []string{w.root, w.evil, w.job, filepath.Join(w.root, "sub")} {
		must(t, os.MkdirAll(d, 0o700))
	}
	must(t, os.WriteFile(filepath.Join(w.data, "gf.db"), []byte(dbText), 0o600))
	must(t, os.WriteFile(filepath.Join(w.data, "admin.token"), []byte(tokenText), 0o600))
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// intact fails the test if the data directory changed.
func (w world) intact(t *testing.T) {
	t.Helper()
	for name, want := range map[string]string{"gf.db": dbText, "admin.token": tokenText} {
		b, err := os.ReadFile(filepath.Join(w.data, name))
		if err != nil || string(b) != want {
			t.Errorf("data/%s is now %q (%v), want %q", name, b, err, want)
		}
	}
	ents, _ := os.ReadDir(w.data)
	if len(ents) != 3 { // gf.db, admin.token, sites
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("data directory holds %v, want only gf.db, admin.token, sites", names)
	}
}

// write does at run time what the local driver does: resolve the workdir,
// expand and resolve the output, open it, write.
func (w world) write(sp core.JobSpec, user string) error {
	d, err := OpenDirs(w.job, []string{w.root})
	if err != nil {
		return err
	}
	defer d.Close()
	wd, err := d.WorkDir(sp.WorkDir)
	if err != nil {
		return err
	}
	defer unix.Close(wd)
	p, err := Expand(sp.Output, Vars{JobID: "7", Name: sp.Name, User: user})
	if err != nil {
		return &Error{Field: FieldOutput, Msg: err.Error()}
	}
	dirfd, rel, err := d.File(FieldOutput, p, wd)
	if err != nil {
		return err
	}
	f, err := OpenOutput(dirfd, rel, os.Geteuid())
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("pwned\n")
	return err
}

// Where a case is refused.
const (
	atSubmit = "submit" // Validate refuses it
	atRun    = "run"    // Validate lets it through (it looks fine); the open refuses it
	allowed  = "ok"
)

func TestHostilePaths(t *testing.T) {
	rootOnly := func(t *testing.T) {
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("this case needs root (chown to another uid)")
			}
			t.Skip("needs root")
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, w world) core.JobSpec
		want  string
		check func(t *testing.T, w world) // after an allowed write
	}{
		{"dot-dot to the database", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "../../../../gf.db"}
		}, atSubmit, nil},
		{"dot-dot in the middle", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "logs/../../x"}
		}, atSubmit, nil},
		{"absolute database", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: filepath.Join(w.data, "gf.db")}
		}, atSubmit, nil},
		{"absolute admin token", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: filepath.Join(w.data, "admin.token")}
		}, atSubmit, nil},
		{"absolute outside roots", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "/etc/gf-test-not-there"}
		}, atSubmit, nil},
		{"proc self root", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "/proc/self/root" + filepath.Join(w.data, "gf.db")}
		}, atSubmit, nil},
		{"proc self cwd", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "/proc/self/cwd/gf.db"}
		}, atSubmit, nil},
		{"root name prefix", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: w.evil + "/x"}
		}, atSubmit, nil},
		{"dot-dot out of a root", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: w.root + "/../data/gf.db"}
		}, atSubmit, nil},
		{"double slash", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "//"}
		}, atSubmit, nil},
		{"trailing slash", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "out/"}
		}, atSubmit, nil},
		{"dot", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "."}
		}, atSubmit, nil},
		{"NUL byte", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "out\x00../../gf.db"}
		}, atSubmit, nil},
		{"over-long", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: strings.Repeat("a/", 2100) + "x"}
		}, atSubmit, nil},
		{"job name .. under %x", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Name: "..", Output: "%x/gf.db"}
		}, atSubmit, nil},
		{"job name with slashes under %x", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Name: "../../../../gf.db", Output: "%x"}
		}, atSubmit, nil},
		{"%% then dot-dot", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "%%/../x"}
		}, atSubmit, nil},
		{"workdir dot-dot", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{WorkDir: "../..", Output: "gf.db"}
		}, atSubmit, nil},
		{"workdir outside roots", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{WorkDir: w.data, Output: "gf.db"}
		}, atSubmit, nil},
		{"symlink in the middle", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink(w.data, filepath.Join(w.root, "link")))
			return core.JobSpec{Output: w.root + "/link/gf.db"}
		}, atRun, nil},
		{"symlink as final component", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink(filepath.Join(w.data, "admin.token"), filepath.Join(w.root, "tok")))
			return core.JobSpec{Output: w.root + "/tok"}
		}, atRun, nil},
		{"dangling symlink to a new file", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink(filepath.Join(w.data, "created"), filepath.Join(w.root, "dangling")))
			return core.JobSpec{Output: w.root + "/dangling"}
		}, atRun, nil},
		{"relative symlink in the job directory", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink("../../../../gf.db", filepath.Join(w.job, "stdout")))
			return core.JobSpec{Output: "stdout"}
		}, atRun, nil},
		{"symlinked workdir", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink(w.data, filepath.Join(w.root, "wd")))
			return core.JobSpec{WorkDir: w.root + "/wd", Output: "gf.db"}
		}, atRun, nil},
		{"symlink to proc self root", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink("/proc/self/root", filepath.Join(w.root, "pr")))
			return core.JobSpec{Output: w.root + "/pr" + filepath.Join(w.data, "gf.db")}
		}, atRun, nil},
		{"symlink loop", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Symlink("loop", filepath.Join(w.root, "loop")))
			return core.JobSpec{Output: w.root + "/loop/x"}
		}, atRun, nil},
		{"hard link to the database", func(t *testing.T, w world) core.JobSpec {
			must(t, os.Link(filepath.Join(w.data, "gf.db"), filepath.Join(w.root, "hl")))
			return core.JobSpec{Output: w.root + "/hl"}
		}, atRun, nil},
		{"another user's file", func(t *testing.T, w world) core.JobSpec {
			rootOnly(t)
			p := filepath.Join(w.root, "theirs")
			must(t, os.WriteFile(p, []byte("theirs\n"), 0o666))
			must(t, os.Chown(p, 12345, 12345))
			return core.JobSpec{Output: p}
		}, atRun, func(t *testing.T, w world) {
			if b, _ := os.ReadFile(filepath.Join(w.root, "theirs")); string(b) != "theirs\n" {
				t.Errorf("another user's file is now %q", b)
			}
		}},
		{"FIFO", func(t *testing.T, w world) core.JobSpec {
			must(t, unix.Mkfifo(filepath.Join(w.root, "fifo"), 0o600))
			return core.JobSpec{Output: w.root + "/fifo"}
		}, atRun, nil},
		{"directory", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: w.root + "/sub"}
		}, atRun, nil},
		{"missing directory", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: w.root + "/nodir/out"}
		}, atRun, nil},
		{"default-like name in the job directory", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{Output: "out-%j.log"}
		}, allowed, func(t *testing.T, w world) {
			if b, err := os.ReadFile(filepath.Join(w.job, "out-7.log")); string(b) != "pwned\n" {
				t.Errorf("job/out-7.log: %q, %v", b, err)
			}
		}},
		{"own file under a root, emptied first", func(t *testing.T, w world) core.JobSpec {
			must(t, os.WriteFile(filepath.Join(w.root, "sub", "alice.log"), []byte("old and long\n"), 0o600))
			return core.JobSpec{Output: w.root + "/sub/%u.log"}
		}, allowed, func(t *testing.T, w world) {
			if b, err := os.ReadFile(filepath.Join(w.root, "sub", "alice.log")); string(b) != "pwned\n" {
				t.Errorf("root/sub/alice.log: %q, %v", b, err)
			}
		}},
		{"relative to a workdir under a root", func(t *testing.T, w world) core.JobSpec {
			return core.JobSpec{WorkDir: w.root + "/sub", Output: "x.log"}
		}, allowed, func(t *testing.T, w world) {
			fi, err := os.Stat(filepath.Join(w.root, "sub", "x.log"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("root/sub/x.log: %v, %v; want mode 0600", fi, err)
			}
		}},
	}
	for _, impl := range []string{"openat2", "walk"} {
		t.Run(impl, func(t *testing.T) {
			if impl == "walk" {
				openat2Hook = func(int, string, int, uint32) (int, error) { return -1, unix.ENOSYS }
				t.Cleanup(func() { openat2Hook = openat2 })
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					w := newWorld(t)
					sp := tt.setup(t, w)
					verr := Validate(sp, []string{w.root})
					rerr := w.write(sp, "alice")
					switch tt.want {
					case atSubmit:
						var pe *Error
						if !errors.As(verr, &pe) || pe.Field == "" {
							t.Errorf("Validate = %v, want an *Error naming the field", verr)
						}
						if rerr == nil {
							t.Errorf("Validate refused it, but the run-time open let it through")
						}
					case atRun:
						if verr != nil {
							t.Errorf("Validate = %v; the case means to get past it", verr)
						}
						if rerr == nil {
							t.Errorf("the run-time open let it through")
						}
					case allowed:
						if verr != nil || rerr != nil {
							t.Errorf("Validate = %v, write = %v; want both fine", verr, rerr)
						}
					}
					if tt.check != nil {
						tt.check(t, w)
					}
					w.intact(t)
				})
			}
		})
	}
}

func TestValidateNamesField(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		spec  core.JobSpec
		field string
	}{
		"workdir":  {core.JobSpec{WorkDir: "/etc"}, FieldWorkDir},
		"output":   {core.JobSpec{Output: "../x"}, FieldOutput},
		"error":    {core.JobSpec{Error: "/srv/scratch-b/x"}, FieldError},
		"fine":     {core.JobSpec{WorkDir: "/srv/scratch/a", Output: "o-%j", Error: "/srv/scratch/e-%x-%u-%A"}, ""},
		"no roots": {core.JobSpec{Output: "/srv/scratch/a"}, FieldOutput},
	}
	for name, tt := range tests {
		roots := []string{"/srv/scratch"}
		if name == "no roots" {
			roots = nil
		}
		err := Validate(tt.spec, roots)
		var pe *Error
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v, want nil", name, err)
		case tt.field != "" && (!errors.As(err, &pe) || pe.Field != tt.field):
			t.Errorf("%s: %v, want an *Error on field %s", name, err, tt.field)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	v := Vars{JobID: "42", Name: "train", User: "alice", ArrayJobID: "40", ArrayTaskID: "7", Node: "gpu01"}
	tests := map[string]string{
		"slurm-%j.out":       "slurm-42.out",
		"%x-%u-%%-%q-%":      "train-alice-%-%q-%",
		"/scratch/%u/%j/%x":  "/scratch/alice/42/train",
		DefaultArrayOutput:   "slurm-40_7.out",
		"%J.%N.out":          "42.gpu01.out",
		"task-%4a-of-%A.log": "task-0007-of-40.log",
		"%010j":              "0000000042",
		"%20j":               "0000000042", // capped at 10, as Slurm does
		"%1j-%2a":            "42-07",
		"%5x-%3N":            "train-gpu01", // a width is ignored for names
		"%4":                 "%4",
		"%4q":                "%4q",
		"100%%-%a":           "100%-7",
	}
	for in, want := range tests {
		if got, err := Expand(in, v); err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, name := range []string{"..", ".", "a/b", "a\x00b"} {
		if _, err := Expand("%x", Vars{JobID: "1", Name: name, User: "u"}); err == nil {
			t.Errorf("job name %q expanded without error", name)
		}
		if _, err := Expand("%N", Vars{JobID: "1", Node: name, User: "u"}); err == nil {
			t.Errorf("node name %q expanded without error", name)
		}
	}
	if _, err := Expand("%u", Vars{JobID: "1"}); err == nil {
		t.Error("empty user expanded without error")
	}
	if _, err := Expand("%a", Vars{JobID: "1"}); err == nil {
		t.Error("empty array task id expanded without error")
	}
	kept, err := Expand("%x-%j-%4a-%u-%%j.out", Vars{Name: "n", ArrayTaskID: "3", Keep: "ju"})
	if err != nil || kept != "n-%j-0003-%u-%%j.out" {
		t.Errorf("Expand with Keep = %q, %v; want %%j and %%u kept", kept, err)
	}
}

func TestJobVars(t *testing.T) {
	t.Parallel()
	seven := 7
	tests := map[string]struct {
		job  core.Job
		want Vars
	}{
		"plain job": {core.Job{ID: 12, User: "alice", Spec: core.JobSpec{Name: "train"}},
			Vars{JobID: "12", Name: "train", User: "alice", ArrayJobID: "12", ArrayTaskID: NoArrayTask, Node: "n1"}},
		"array task": {core.Job{ID: 19, Name: "sweep", User: "bob", ArrayJobID: 12, ArrayTaskID: &seven},
			Vars{JobID: "19", Name: "sweep", User: "bob", ArrayJobID: "12", ArrayTaskID: "7", Node: "n1"}},
	}
	for name, tc := range tests {
		if got := JobVars(tc.job, "n1"); got != tc.want {
			t.Errorf("%s: JobVars = %+v, want %+v", name, got, tc.want)
		}
	}
	if DefaultOutputFor(tests["array task"].job) != DefaultArrayOutput || DefaultOutputFor(tests["plain job"].job) != DefaultOutput {
		t.Error("DefaultOutputFor does not tell array tasks from jobs")
	}
}

func TestRunDir(t *testing.T) {
	t.Parallel()
	roots := []string{"/home", "/scratch"}
	tests := map[string]struct {
		spec    core.JobSpec
		want    string
		fromSub bool
	}{
		"workdir wins":             {core.JobSpec{WorkDir: "/scratch/run", SubmitDir: "/home/alice"}, "/scratch/run", false},
		"relative workdir kept":    {core.JobSpec{WorkDir: "runs", SubmitDir: "/home/alice"}, "runs", false},
		"submit dir under a root":  {core.JobSpec{SubmitDir: "/home/alice/proj/"}, "/home/alice/proj", true},
		"submit dir is a root":     {core.JobSpec{SubmitDir: "/scratch"}, "/scratch", true},
		"submit dir outside roots": {core.JobSpec{SubmitDir: "/etc"}, "", false},
		"sibling of a root":        {core.JobSpec{SubmitDir: "/home2/alice"}, "", false},
		"submit dir climbs":        {core.JobSpec{SubmitDir: "/home/../etc"}, "", false},
		"relative submit dir":      {core.JobSpec{SubmitDir: "home/alice"}, "", false},
		"neither":                  {core.JobSpec{}, "", false},
	}
	for name, tc := range tests {
		dir, used := RunDir(tc.spec, roots)
		if dir != tc.want || used != tc.fromSub {
			t.Errorf("%s: RunDir = %q, %v; want %q, %v", name, dir, used, tc.want, tc.fromSub)
		}
	}
	if dir, used := RunDir(core.JobSpec{SubmitDir: "/home/alice"}, nil); dir != "" || used {
		t.Errorf("no roots: RunDir = %q, %v; want the job's own directory", dir, used)
	}
}

func TestParseRoots(t *testing.T) {
	t.Parallel()
	got, err := ParseRoots("/srv/a/:/srv/b, /scratch//x")
	if err != nil || strings.Join(got, " ") != "/srv/a /srv/b /scratch/x" {
		t.Errorf("ParseRoots = %v, %v", got, err)
	}
	for _, bad := range []string{"rel/dir", "/srv/../etc"} {
		if _, err := ParseRoots(bad); err == nil {
			t.Errorf("ParseRoots(%q) accepted", bad)
		}
	}
}

func TestOpenErrorsKeepErrno(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d, err := OpenDirs(w.job, []string{w.root})
	must(t, err)
	defer d.Close()
	_, err = d.WorkDir(w.root + "/missing")
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing workdir: %v, want ENOENT saying it does not exist", err)
	}
	must(t, os.Symlink(w.data, filepath.Join(w.root, "l")))
	_, err = OpenBeneath(d.rootFDs[0], "l/gf.db", unix.O_RDONLY, 0)
	if !errors.Is(err, syscall.ELOOP) {
		t.Errorf("through a symlink: %v, want ELOOP", err)
	}
}
