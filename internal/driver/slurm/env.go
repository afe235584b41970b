package slurm

import (
	"slices"
	"strconv"

	"github.com/gigafactory/gigafactory/internal/core"
)

// jobEnv is the environment the driver gives a job's batch script: the
// spec's Env as its --export lets through (slurmrestd has no --export: the
// environment sent is what is exported), and the variables Slurm cannot
// know, because Gigafactory, not Slurm, made the job an array task or
// knows where it was submitted: GF_*, SLURM_ARRAY_*, SLURM_SUBMIT_DIR and
// SLURM_CPUS_PER_TASK
// (Slurm sets the rest, SLURM_JOB_ID and the like, itself, with its own
// values). runDir is the job's working directory.
func jobEnv(job core.Job, runDir string) map[string]string {
	s := job.Spec
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	exp := core.ParseExport(s.Export)
	for k, v := range s.Env {
		if exp.All || slices.Contains(exp.Names, k) {
			env[k] = v
		}
	}
	for k, v := range exp.Set {
		env[k] = v
	}
	name := job.Name
	if name == "" {
		name = s.Name
	}
	env["GF_JOB_ID"] = job.ID.String()
	env["GF_JOB_NAME"] = name
	env["GF_ATTEMPT"] = strconv.Itoa(job.Attempt)
	if s.Export != "" {
		env["SLURM_EXPORT_ENV"] = s.Export
	}
	if s.CPUsPerTask > 0 {
		// Slurm 22.05 sets it in a batch job's environment only when
		// sbatch, not slurmrestd, was told; srun reads it for its -c.
		env["SLURM_CPUS_PER_TASK"] = strconv.Itoa(s.CPUsPerTask)
	}
	env["SLURM_SUBMIT_DIR"] = runDir
	if s.SubmitDir != "" {
		env["SLURM_SUBMIT_DIR"] = s.SubmitDir
	}
	if job.ArrayTaskID != nil {
		env["SLURM_ARRAY_JOB_ID"] = job.ArrayJobID.String()
		env["SLURM_ARRAY_TASK_ID"] = strconv.Itoa(*job.ArrayTaskID)
		if s.Array != nil {
			if idx := s.Array.Indices(); len(idx) > 0 {
				env["SLURM_ARRAY_TASK_COUNT"] = strconv.Itoa(len(idx))
				env["SLURM_ARRAY_TASK_MIN"] = strconv.Itoa(idx[0])
				env["SLURM_ARRAY_TASK_MAX"] = strconv.Itoa(idx[len(idx)-1])
				env["SLURM_ARRAY_TASK_STEP"] = strconv.Itoa(s.Array.Step())
			}
		}
	}
	return env
}
