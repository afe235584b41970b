#!/bin/bash -l
# In the style of the LUMI user guide, "Slurm batch jobs" and "Array jobs", for the
# LUMI-C small partition (docs.lumi-supercomputer.eu); written for this corpus.
# Before submitting: mkdir -p logs
#SBATCH -J preprocess
#SBATCH -A project_465000123
#SBATCH -p small
#SBATCH -n 1
#SBATCH -c 16
#SBATCH --mem-per-cpu=1750M
#SBATCH -t 45
#SBATCH --array=0-14:2%4
#SBATCH -o logs/%x_%A_%a.out
#SBATCH -e logs/%x_%A_%a.err

shard=$(printf "%05d" "${SLURM_ARRAY_TASK_ID}")
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
mkdir -p shards
srun bash -c "echo tokenized > shards/$shard.txt"
