#!/bin/bash -l
# In the style of the LUMI user guide, "GPU jobs on LUMI-G: the small-g partition"
# (docs.lumi-supercomputer.eu); written for this corpus.
#SBATCH --job-name=ablation
#SBATCH --account=project_465000123
#SBATCH --partition=small-g
#SBATCH -G 2
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=7
#SBATCH --mem-per-gpu=60G
#SBATCH --time=3:00:00
#SBATCH --array=0-9

srun python ablate.py --seed "${SLURM_ARRAY_TASK_ID}"
