#!/bin/bash
# In the style of the Vega documentation (IZUM), "Running jobs with Slurm: GPU
# partition and job arrays" (doc.vega.izum.si); written for this corpus.
#SBATCH --job-name=sweep
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-gpu=8
#SBATCH --mem-per-gpu=32G
#SBATCH --time=4:00:00
#SBATCH --array=1,3,5,7
#SBATCH --output=sweep_%A_%a_%u.log
#SBATCH --no-requeue

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
echo "trial ${SLURM_ARRAY_TASK_ID}: ok" > "trial-${SLURM_ARRAY_TASK_ID}.txt"
