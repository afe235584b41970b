package local

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// inherited are the controller's environment variables a job sees. The rest
// (database URLs, tokens) stays with the controller.
// TMPDIR and PWD are the exec stage's to set.
var inherited = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ"}

// jobEnv is a job's environment: a few inherited variables and the spec's
// Env, as its Export lets through, then the GF_* and SLURM_* variables and
// accelerator masks, which win over both. runDir is the absolute directory
// the job runs in.
func jobEnv(job core.Job, acct *account, runDir string) []string {
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	exp := core.ParseExport(job.Spec.Export)
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok && (exp.All || k == "PATH" || k == "HOME" || k == "USER" || k == "LOGNAME") {
			env[k] = v
		}
	}
	if acct != nil {
		env["HOME"], env["USER"], env["LOGNAME"] = acct.home, acct.name, acct.name
	}
	for k, v := range job.Spec.Env {
		if exp.All || slices.Contains(exp.Names, k) {
			env[k] = v
		}
	}
	for k, v := range exp.Set {
		env[k] = v
	}
	name, project := job.Name, job.Project
	if name == "" {
		name = job.Spec.Name
	}
	if project == "" {
		project = job.Spec.Project
	}
	env["GF_JOB_ID"] = job.ID.String()
	env["GF_JOB_NAME"] = name
	env["GF_PROJECT"] = project
	env["GF_ATTEMPT"] = strconv.Itoa(job.Attempt)
	var accels []string
	var milli core.Milli
	if a := job.Alloc; a != nil {
		env["GF_SITE"] = a.Site
		for _, n := range a.Nodes {
			for _, i := range n.Accels {
				if s := strconv.Itoa(i); !slices.Contains(accels, s) {
					accels = append(accels, s)
				}
			}
			if n.Milli > 0 {
				milli += n.Milli
			}
		}
	}
	env["GF_NODE"] = nodeName(job)
	// An empty mask hides every device from a job that was given none.
	list := strings.Join(accels, ",")
	env["GF_ACCELERATORS"] = list
	env["CUDA_VISIBLE_DEVICES"] = list
	env["ROCR_VISIBLE_DEVICES"] = list
	env["HIP_VISIBLE_DEVICES"] = list
	if milli > 0 {
		env["GF_ACCELERATOR_MILLI"] = strconv.FormatInt(int64(milli), 10)
	}
	slurmEnv(env, job, project, name, accels, runDir)
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// slurmEnv sets the SLURM_* variables a batch script written for a Slurm
// site reads, with the values sbatch would give a job on one node, so that
// `${SLURM_JOB_ID}` or `${SLURM_ARRAY_TASK_ID}` in a script means what its
// author meant. Like the GF_* ones they win over the spec's Env.
func slurmEnv(env map[string]string, job core.Job, project, name string, accels []string, runDir string) {
	s := job.Spec
	id := job.ID.String()
	nodes := map[string]bool{}
	if a := job.Alloc; a != nil {
		for _, n := range a.Nodes {
			nodes[n.Node] = true
		}
	}
	numNodes := max(len(nodes), 1)
	tasks := max(knownTasks(s), 1)
	set := func(v string, keys ...string) {
		for _, k := range keys {
			env[k] = v
		}
	}
	set(id, "SLURM_JOB_ID", "SLURM_JOBID")
	set(name, "SLURM_JOB_NAME")
	set(project, "SLURM_JOB_ACCOUNT")
	set(job.User, "SLURM_JOB_USER")
	set(strconv.Itoa(numNodes), "SLURM_JOB_NUM_NODES", "SLURM_NNODES")
	set(strconv.Itoa(tasks), "SLURM_NTASKS", "SLURM_NPROCS")
	if s.TasksPerNode > 0 {
		set(strconv.Itoa(s.TasksPerNode), "SLURM_NTASKS_PER_NODE")
	} else if s.Tasks > 0 && numNodes == 1 {
		set(strconv.Itoa(s.Tasks), "SLURM_NTASKS_PER_NODE")
	}
	set(env["GF_NODE"], "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURMD_NODENAME")
	set(strconv.Itoa(len(accels)), "SLURM_GPUS_ON_NODE")
	if len(accels) > 0 {
		set(strings.Join(accels, ","), "SLURM_JOB_GPUS")
	}
	if c := s.CPUsPerTask; c > 0 {
		set(strconv.Itoa(c), "SLURM_CPUS_PER_TASK")
	}
	if site := env["GF_SITE"]; site != "" {
		set(site, "SLURM_CLUSTER_NAME")
	}
	partition := s.Partition
	if partition == "" && job.Alloc != nil {
		partition = job.Alloc.Pool
	}
	if partition != "" {
		set(partition, "SLURM_JOB_PARTITION")
	}
	switch {
	case s.MemMiBPerNode > 0:
		set(strconv.Itoa(s.MemMiBPerNode), "SLURM_MEM_PER_NODE")
	case s.MemMiBPerCPU > 0:
		set(strconv.Itoa(s.MemMiBPerCPU), "SLURM_MEM_PER_CPU")
	case s.MemMiBPerAccel > 0:
		set(strconv.Itoa(s.MemMiBPerAccel), "SLURM_MEM_PER_GPU")
	}
	submit := s.SubmitDir
	if submit == "" {
		submit = runDir
	}
	set(submit, "SLURM_SUBMIT_DIR")
	if h, err := os.Hostname(); err == nil {
		set(h, "SLURM_SUBMIT_HOST")
	}
	set(orAll(s.Export), "SLURM_EXPORT_ENV")
	if job.ArrayTaskID != nil {
		set(job.ArrayJobID.String(), "SLURM_ARRAY_JOB_ID")
		set(strconv.Itoa(*job.ArrayTaskID), "SLURM_ARRAY_TASK_ID")
		if s.Array != nil {
			if idx := s.Array.Indices(); len(idx) > 0 {
				set(strconv.Itoa(len(idx)), "SLURM_ARRAY_TASK_COUNT")
				set(strconv.Itoa(idx[0]), "SLURM_ARRAY_TASK_MIN")
				set(strconv.Itoa(idx[len(idx)-1]), "SLURM_ARRAY_TASK_MAX")
				set(strconv.Itoa(s.Array.Step()), "SLURM_ARRAY_TASK_STEP")
			}
		}
	}
}

func orAll(export string) string {
	if export == "" {
		return "ALL"
	}
	return export
}
