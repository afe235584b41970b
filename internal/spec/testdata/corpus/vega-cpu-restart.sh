#!/bin/bash
# In the style of the Vega documentation (IZUM), "Running jobs with Slurm: the CPU
# partition" (doc.vega.izum.si); written for this corpus. It resumes from a
# checkpoint and fails when there is none, which vega-cpu-cleanup.sh handles.
#SBATCH --job-name=restart
#SBATCH --partition=cpu
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=1G
#SBATCH --time=1-0
#SBATCH --output=%x-%j.out
#SBATCH --error=%x-%j.err

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
if [ ! -f restart.chk ]; then
  echo "no checkpoint restart.chk in $(pwd)" >&2
  exit 3
fi
