package slurm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestDirectivesReachSlurm submits an array task as a batch script with
// sbatch directives to the test Slurm: `scontrol show job` shows them, the
// job runs in its submit directory, writes slurm-%A_%a.out there, and sees
// the variables Slurm could not know.
func TestDirectivesReachSlurm(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	prefix := uniquePrefix("directives")
	opts := c.options(prefix)
	d := newTestDriver(t, opts)
	sub := filepath.Join(opts.WorkDir, prefix)
	if err := os.MkdirAll(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(sub, 0o777) // the Slurm user writes its output here
	task := 7
	job := core.Job{ID: 4100, Name: "sweep", Project: "proj-test", ArrayJobID: 4093, ArrayTaskID: &task,
		Spec: core.JobSpec{
			Script:    "#!/bin/bash\npwd\nenv | grep -E '^(SLURM|GF)_' | sort\n",
			SubmitDir: sub, Tasks: 2, CPUsPerTask: 2, MemMiBPerCPU: 100, Exclusive: true,
			Signal:  &core.JobSignal{Name: "USR1", Seconds: 60, BatchOnly: true},
			Comment: "run three", MailType: "END", MailUser: "alice@example.org",
			Walltime: core.Duration(5 * time.Minute),
			Array:    &core.JobArray{Ranges: []core.ArrayRange{{First: 0, Last: 9}}},
		}}
	h, err := d.Start(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector(d)
	col.waitEnds(t, []core.JobID{job.ID}, 60*time.Second)
	if u := col.ends[job.ID]; u.State != core.StateCompleted {
		t.Fatalf("ended %s: %s", u.State, u.Reason)
	}
	cmd := exec.Command("scontrol", "show", "job", h)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+filepath.Join(c.Dir, "etc", "slurm.conf"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scontrol show job %s: %v\n%s", h, err, out)
	}
	show := " " + strings.Join(strings.Fields(string(out)), " ") + " "
	for _, want := range []string{"NumTasks=2", "CPUs/Task=2", "MinMemoryCPU=100M", "OverSubscribe=NO",
		"Comment=" + prefix + ":4100:0:run three", "MailUser=alice@example.org", "MailType=END",
		"WorkDir=" + sub, "StdOut=" + sub + "/slurm-4093_7.out"} {
		if !strings.Contains(show, " "+want+" ") {
			t.Errorf("scontrol show job lacks %s:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(sub, "slurm-4093_7.out"))
	if err != nil {
		t.Fatalf("the output is not where sbatch puts it: %v", err)
	}
	for _, want := range []string{sub, "SLURM_ARRAY_JOB_ID=4093", "SLURM_ARRAY_TASK_ID=7", "SLURM_ARRAY_TASK_COUNT=10",
		"SLURM_NTASKS=2", "SLURM_CPUS_PER_TASK=2", "GF_JOB_ID=4100", "SLURM_JOB_ID=" + h} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("the job's output lacks the line %s:\n%s", want, b)
		}
	}
}
