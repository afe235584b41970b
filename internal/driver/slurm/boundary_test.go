package slurm

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/jobpath"
	"github.com/google/go-cmp/cmp"
)

// These tests need no Slurm: the path checks run before any request, and
// Logs reads files. The driver points at a port nothing listens on, so a
// Start that got past its check would fail with a connection error, which
// is transient, and the tests would see it.

// site is a Slurm site's file system in miniature, as the controller sees
// it: the driver's workdir and output_dir, an allowed root, a sibling of
// the root whose name starts like it, and the controller's data directory
// with the secret a tenant wants.
type site struct {
	base, work, out, shared, evil, data string
	owner                               int // uid the Slurm user's files have
}

const secretText = "gf_admin_secret\n"

func newSite(t *testing.T) site {
	t.Helper()
	base := t.TempDir()
	s := site{base: base, work: filepath.Join(base, "work"), out: filepath.Join(base, "out"),
		shared: filepath.Join(base, "shared"), evil: filepath.Join(base, "shared-evil"), data: filepath.Join(base, "data")}
	for _, d := range []string{s.work, s.out, s.shared, s.evil, s.data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As root, the Slurm user is someone else; as not, it is us.
	s.owner = os.Geteuid()
	if s.owner == 0 {
		s.owner = 4242
	}
	// The secret belongs to the Slurm user too, so that only the path
	// rules, not the owner check, keep it out.
	s.write(t, filepath.Join(s.data, "admin.token"), secretText)
	s.write(t, filepath.Join(s.evil, "x.out"), secretText)
	return s
}

// write makes a file of the Slurm user's.
func (s site) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(name, s.owner, s.owner); err != nil {
			t.Fatal(err)
		}
	}
}

func (s site) driver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(core.Site{ID: "s", Driver: "slurm", DriverOptions: map[string]string{
		"url": "http://127.0.0.1:1", "user": "gfslurm", "token": "t", "retries": "0", "timeout": "1s",
		"workdir": s.work, "output_dir": s.out, "allowed_roots": s.shared, "log_owner": strconv.Itoa(s.owner),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func pathJob(workdir, output, errPath string) core.Job {
	return core.Job{ID: 5, Handle: "77", Name: "train", Spec: core.JobSpec{Command: []string{"true"}, WorkDir: workdir, Output: output, Error: errPath}}
}

// TestStartRefusesPaths: a path outside the roots or climbing out fails
// Start as the job's fault, naming the field, before Slurm is asked.
func TestStartRefusesPaths(t *testing.T) {
	s := newSite(t)
	d := s.driver(t)
	tests := map[string]struct {
		job   core.Job
		field string
	}{
		"absolute output outside":    {pathJob("", filepath.Join(s.data, "admin.token"), ""), jobpath.FieldOutput},
		"absolute error outside":     {pathJob("", "", "/etc/shadow"), jobpath.FieldError},
		"relative ..":                {pathJob("", "../data/admin.token", ""), jobpath.FieldOutput},
		"buried ..":                  {pathJob("", "a/../../data/admin.token", ""), jobpath.FieldOutput},
		"root then ..":               {pathJob("", s.shared+"/../data/admin.token", ""), jobpath.FieldOutput},
		"sibling of a root":          {pathJob("", filepath.Join(s.evil, "x.out"), ""), jobpath.FieldOutput},
		"workdir outside":            {pathJob(s.data, "", ""), jobpath.FieldWorkDir},
		"workdir ..":                 {pathJob("../data", "", ""), jobpath.FieldWorkDir},
		"workdir /":                  {pathJob("/", "", ""), jobpath.FieldWorkDir},
		"output names a directory":   {pathJob("", s.work+"/", ""), jobpath.FieldOutput},
		"unknown % pattern":          {pathJob("", ".%q./x", ""), jobpath.FieldOutput},
		"trailing %":                 {pathJob("", "out%", ""), jobpath.FieldOutput},
		"backslash":                  {pathJob("", `out\%j`, ""), jobpath.FieldOutput},
		"NUL":                        {pathJob("", "out\x00x", ""), jobpath.FieldOutput},
		"%u in a directory climbing": {pathJob("", "%u/../../data/admin.token", ""), jobpath.FieldOutput},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := d.Start(context.Background(), tc.job)
			var pe *jobpath.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Start = %v, want a *jobpath.Error", err)
			}
			if !strings.Contains(tc.field, pe.Field) {
				t.Errorf("field %q, want %q (%v)", pe.Field, tc.field, err)
			}
			if driver.Transient(err) || errors.Is(err, driver.ErrUnavailable) {
				t.Errorf("%v reads as the site's fault: one tenant's path would back the site off", err)
			}
		})
	}
}

// submitJob is pathJob submitted from dir, an array task when task is set.
func submitJob(dir string, task *int) core.Job {
	j := pathJob("", "", "")
	j.Spec.SubmitDir = dir
	if task != nil {
		j.ArrayJobID, j.ArrayTaskID = 3, task
	}
	return j
}

// arrayOut is task 4 of array 3 with the output pattern out.
func arrayOut(out string) core.Job {
	four := 4
	j := submitJob("", &four)
	j.Spec.Output = out
	return j
}

// TestPathsAccepted pins what Slurm is asked to write where, for paths the
// rules accept.
func TestPathsAccepted(t *testing.T) {
	four := 4
	s := newSite(t)
	d := s.driver(t)
	tests := map[string]struct {
		job  core.Job
		want jobPaths
	}{
		"defaults":             {pathJob("", "", ""), jobPaths{s.work, s.out + "/slurm-%j.out", ""}},
		"relative workdir":     {pathJob("runs/a", "", ""), jobPaths{s.work + "/runs/a", s.work + "/runs/a/slurm-%j.out", ""}},
		"workdir in a root":    {pathJob(s.shared+"/p", "o-%j.txt", "%x-%5j-%N.err"), jobPaths{s.shared + "/p", s.shared + "/p/o-%j.txt", s.shared + "/p/train-%5j-%N.err"}},
		"submit dir in a root": {submitJob(s.shared+"/p", nil), jobPaths{s.shared + "/p", s.shared + "/p/slurm-%j.out", ""}},
		"submit dir elsewhere": {submitJob("/etc", nil), jobPaths{s.work, s.out + "/slurm-%j.out", ""}},
		"array task":           {submitJob("", &four), jobPaths{s.work, s.out + "/slurm-3_4.out", ""}},
		"array task pattern":   {arrayOut("%x-%A.%3a.%j.out"), jobPaths{s.work, s.work + "/train-3.004.%j.out", ""}},
		"absolute in roots":    {pathJob("", s.shared+"/logs/%u.out", s.out+"/e%%j"), jobPaths{s.work, s.shared + "/logs/%u.out", s.out + "/e%%j"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := d.paths(tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			req, err := d.request(context.Background(), nil, tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if req.WorkDir != got.WorkDir || req.Stdout != got.Stdout || req.Stderr != got.Stderr {
				t.Errorf("Slurm is asked for %s %s %s, not the paths checked", req.WorkDir, req.Stdout, req.Stderr)
			}
		})
	}
}

// TestLogsRefusesForeignFiles: whatever a spec names, Logs serves only a
// plain file of the Slurm user's under the roots, reached without a
// symbolic link.
func TestLogsRefusesForeignFiles(t *testing.T) {
	s := newSite(t)
	d := s.driver(t)
	secret := filepath.Join(s.data, "admin.token")
	// Traps a tenant plants in the directories jobs can write.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(secret, filepath.Join(s.work, "link.out")))
	must(os.Symlink(s.data, filepath.Join(s.work, "datalink")))
	must(os.Symlink(s.data, filepath.Join(s.shared, "wd")))
	must(os.Symlink(secret, filepath.Join(s.out, "slurm-77.out"))) // the default name
	must(os.Link(secret, filepath.Join(s.work, "hard.out")))
	must(syscall.Mkfifo(filepath.Join(s.work, "fifo.out"), 0o644))
	must(os.Mkdir(filepath.Join(s.work, "dir.out"), 0o755))
	must(os.WriteFile(filepath.Join(s.work, "theirs.out"), []byte(secretText), 0o644))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(s.work, "theirs.out"), s.owner+1, s.owner+1))
	}

	tests := map[string]struct {
		job    core.Job
		stream string
		want   string // in the error
	}{
		"absolute outside roots": {pathJob("", secret, ""), "stdout", "outside the site's allowed roots"},
		"relative ..":            {pathJob("", "", "../data/admin.token"), "stderr", ".. element"},
		"sibling of a root":      {pathJob("", filepath.Join(s.evil, "x.out"), ""), "stdout", "outside the site's allowed roots"},
		"symlink to a file":      {pathJob("", "link.out", ""), "stdout", "symbolic link"},
		"symlink to a directory": {pathJob("", "datalink/admin.token", ""), "stdout", "symbolic link"},
		"symlinked workdir":      {pathJob(s.shared+"/wd", "admin.token", ""), "stdout", "symbolic link"},
		"default name a symlink": {pathJob("", "", ""), "stdout", "symbolic link"},
		"hard link":              {pathJob("", "hard.out", ""), "stdout", "2 hard links"},
		"fifo":                   {pathJob("", "fifo.out", ""), "stdout", "not a regular file"},
		"directory":              {pathJob("", "dir.out", ""), "stdout", "not a regular file"},
		"absent":                 {pathJob("", "", "%j.err"), "stderr", "Slurm writes them to " + s.work + "/77.err on the cluster, not readable here"},
		"no job id for %j":       {core.Job{ID: 5, Spec: core.JobSpec{Output: "%j.out"}}, "stdout", "no Slurm job id"},
		"bad stream":             {pathJob("", "", ""), "stdin", "stream must be"},
	}
	if os.Geteuid() == 0 {
		tests["another user's file"] = struct {
			job    core.Job
			stream string
			want   string
		}{pathJob("", "theirs.out", ""), "stdout", "not the job's uid"}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rc, err := d.Logs(context.Background(), tc.job, tc.stream)
			if err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Fatalf("Logs served %q", b)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Logs = %v, want it to say %q", err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(secret); string(b) != secretText {
		t.Errorf("the secret is now %q", b)
	}
}

// TestLogsReadsOwnFiles: the files a job of the site writes are served.
func TestLogsReadsOwnFiles(t *testing.T) {
	s := newSite(t)
	d := s.driver(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(s.work, "runs"), 0o755))
	must(os.MkdirAll(filepath.Join(s.shared, "p"), 0o755))
	s.write(t, filepath.Join(s.out, "slurm-77.out"), "default out\n")
	s.write(t, filepath.Join(s.work, "runs", "77.log"), "relative\n")
	s.write(t, filepath.Join(s.shared, "p", "train-gfslurm.txt"), "in a root\n")
	tests := map[string]struct {
		job    core.Job
		stream string
		want   string
	}{
		"default stdout":    {pathJob("", "", ""), "stdout", "default out\n"},
		"default stderr":    {pathJob("", "", ""), "stderr", "default out\n"}, // with stdout, as sbatch writes it
		"%j relative":       {pathJob("runs", "%j.log", ""), "stdout", "relative\n"},
		"%x %u in a root":   {pathJob(s.shared+"/p", "", "%x-%u.txt"), "stderr", "in a root\n"},
		"absolute in roots": {pathJob("", s.shared+"/p/train-gfslurm.txt", ""), "stdout", "in a root\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rc, err := d.Logs(context.Background(), tc.job, tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || string(b) != tc.want {
				t.Errorf("read %q, %v; want %q", b, err, tc.want)
			}
		})
	}
}

// TestLogsOwner: without an account to check files against, and for root,
// Logs refuses rather than serve whatever is there.
func TestLogsOwner(t *testing.T) {
	s := newSite(t)
	s.write(t, filepath.Join(s.out, "gf-5.0.out"), "out\n")
	for name, opts := range map[string]map[string]string{
		"no such account": {"user": "gf-no-such-user-x"},
		"root by name":    {"user": "root"},
		"root by uid":     {"user": "gfslurm", "log_owner": "0"},
	} {
		t.Run(name, func(t *testing.T) {
			o := map[string]string{"url": "http://127.0.0.1:1", "token": "t", "workdir": s.work, "output_dir": s.out}
			for k, v := range opts {
				o[k] = v
			}
			d, err := New(core.Site{ID: "s", Driver: "slurm", DriverOptions: o})
			if err != nil {
				t.Fatal(err)
			}
			if rc, err := d.Logs(context.Background(), pathJob("", "", ""), "stdout"); err == nil {
				rc.Close()
				t.Fatal("Logs served a file without knowing whose it must be")
			}
		})
	}
}

// TestRootsMatchSiteRoots: what the API checks at submission
// (jobpath.SiteRoots) is what the driver enforces.
func TestRootsMatchSiteRoots(t *testing.T) {
	for name, opts := range map[string]map[string]string{
		"defaults":     {},
		"workdir":      {"workdir": "/scratch/gf/"},
		"all":          {"workdir": "/w", "output_dir": "/logs", "allowed_roots": "/srv/a:/srv/b,/w"},
		"output below": {"workdir": "/w", "output_dir": "/w/logs"},
	} {
		t.Run(name, func(t *testing.T) {
			o := map[string]string{"url": "http://127.0.0.1:1", "user": "u", "token": "t"}
			for k, v := range opts {
				o[k] = v
			}
			site := core.Site{ID: "s", Driver: "slurm", DriverOptions: o}
			want, err := jobpath.SiteRoots(site)
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(site)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, d.roots); diff != "" {
				t.Errorf("driver roots (-SiteRoots +driver):\n%s", diff)
			}
		})
	}
}

func TestPathOptions(t *testing.T) {
	for name, opts := range map[string]map[string]string{
		"relative workdir":      {"workdir": "jobs"},
		"relative output_dir":   {"output_dir": "logs"},
		"output_dir with ..":    {"output_dir": "/srv/../etc"},
		"relative allowed root": {"allowed_roots": "/srv:data"},
	} {
		o := map[string]string{"url": "http://127.0.0.1:1", "user": "u", "token": "t"}
		for k, v := range opts {
			o[k] = v
		}
		_, err := New(core.Site{ID: "s", Driver: "slurm", DriverOptions: o})
		var key string
		for k := range opts {
			key = k
		}
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", name, err, key)
		}
	}
}
