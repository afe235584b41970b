-- Job arrays (sbatch --array): each task is a job of its own, with the
-- array's id (its first task's id, as in Slurm) and its index. Both are
-- NULL for a job that is not an array task.

ALTER TABLE jobs ADD COLUMN array_job_id BIGINT;
ALTER TABLE jobs ADD COLUMN array_task_id BIGINT;
CREATE INDEX jobs_array ON jobs (array_job_id, array_task_id);
