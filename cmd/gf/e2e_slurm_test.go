package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestSlurmThroughGF is issue 6's acceptance through gf against the real
// local Slurm that scripts/test.d/20-slurm.sh starts: 50 jobs of mixed
// shapes submitted with gf, gf serve SIGKILLed half-way and restarted, every
// job ending with its own exit code, exactly one Slurm job per Gigafactory
// job (checked by the tag), and a job larger than the cluster held with a
// reason. The steps live in scripts/slurm/e2e.sh so an operator can run them
// by hand against a cluster too.
func TestSlurmThroughGF(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jobs in a real Slurm")
	}
	if os.Getenv("GF_TEST_SLURM_URL") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but GF_TEST_SLURM_URL is not: scripts/test.d/20-slurm.sh did not start Slurm")
		}
		t.Skip("no test Slurm (run make test, which starts one)")
	}
	cmd := exec.Command("bash", "../../scripts/slurm/e2e.sh", "50")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("scripts/slurm/e2e.sh: %v", err)
	}
}
