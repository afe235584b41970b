#!/bin/bash -l
# In the style of the LUMI user guide, "GPU jobs on LUMI-G: the small-g partition"
# (docs.lumi-supercomputer.eu); written for this corpus. Memory is scaled to
# Gigafactory's test cluster.
#SBATCH --job-name=ablation
#SBATCH --account=project_465000123
#SBATCH --partition=small-g
#SBATCH -G 2
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=7
#SBATCH --mem-per-gpu=24G
#SBATCH --time=3:00:00
#SBATCH --array=0-9

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "seed ${SLURM_ARRAY_TASK_ID}" > "ablation-${SLURM_ARRAY_TASK_ID}.json"
