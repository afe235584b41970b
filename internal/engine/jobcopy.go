package engine

import "github.com/gigafactory/gigafactory/internal/core"

// A submission copies its core.Job (608 bytes) into a reused record whose
// lines have long left the cache; most of those bytes are fields the
// engine never reads and that a replay leaves empty. When the submission
// has none of them set (plainJob) and the record holds none either
// (job.rich is false), copyPlain writes only the rest, and the record ends
// up equal to the submission all the same. TestCopyJobCoversEveryField
// sets each field of core.Job in turn, so a field added to core.Job later
// cannot be dropped.

// plainJob reports whether j leaves empty every field copyPlain skips.
func plainJob(j *core.Job) bool {
	s := &j.Spec
	return j.Name == "" && j.Reason == "" && j.Site == "" && j.EndTime == nil && j.ExitCode == nil &&
		j.Signal == "" && j.Attempt == 0 && j.IdempotencyKey == "" && j.Handle == "" && j.EstimatedStart == nil &&
		s.Name == "" && s.Project == "" && s.Command == nil && s.Script == "" && s.PriorityClass == "" &&
		s.Env == nil && s.WorkDir == "" && s.ModelTag == "" && s.Partition == "" && s.Output == "" &&
		s.Error == "" && s.Datasets == nil && noBatchOptions(s) &&
		j.ArrayJobID == 0 && j.ArrayTaskID == nil && j.Warnings == nil
}

// noBatchOptions reports whether s leaves empty the fields that carry
// sbatch directives (core.JobSpec's SiteQoS onwards), which copyPlain
// skips too.
func noBatchOptions(s *core.JobSpec) bool {
	return s.SiteQoS == "" && s.NodesMax == 0 && s.Tasks == 0 && s.TasksPerNode == 0 && s.CPUsPerTask == 0 &&
		s.MemMiBPerNode == 0 && !s.MemAll && s.MemMiBPerCPU == 0 && s.AccelPerTask == 0 && !s.Exclusive &&
		s.Constraint == "" && s.Array == nil && s.Dependency == nil && s.Signal == nil && s.Requeue == nil &&
		s.Hint == "" && s.MailType == "" && s.MailUser == "" && s.Export == "" && s.Begin == "" &&
		s.Deadline == "" && s.Comment == "" && s.Reservation == "" && s.SubmitDir == "" &&
		s.Award == "" && s.AwardSites == nil && s.Lineage == nil
}

// copyPlain copies the fields plainJob does not cover from src to dst.
func copyPlain(dst, src *core.Job) {
	dst.ID, dst.Project, dst.Org, dst.User = src.ID, src.Project, src.Org, src.User
	dst.State, dst.Alloc = src.State, src.Alloc
	dst.SubmitTime, dst.StartTime, dst.UpdateTime = src.SubmitTime, src.StartTime, src.UpdateTime
	d, s := &dst.Spec, &src.Spec
	d.Accelerators, d.Model, d.Nodes, d.PerNode, d.Walltime = s.Accelerators, s.Model, s.Nodes, s.PerNode, s.Walltime
	d.QoS, d.Preemptible, d.Checkpointable, d.Residency, d.Site = s.QoS, s.Preemptible, s.Checkpointable, s.Residency, s.Site
	d.CPUsPerAccel, d.MemMiBPerAccel, d.Topology = s.CPUsPerAccel, s.MemMiBPerAccel, s.Topology
}

// setJob makes j's Job a copy of cj.
func (j *job) setJob(cj *core.Job) {
	plain := plainJob(cj)
	if plain && !j.rich {
		copyPlain(&j.Job, cj)
		return
	}
	j.Job = *cj
	j.rich = !plain
}
