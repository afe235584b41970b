#!/bin/bash
# In the style of the Vega documentation (IZUM), "Running jobs with Slurm: job
# dependencies" (doc.vega.izum.si); written for this corpus. Job 4900 is the run
# that may fail (vega-cpu-restart.sh): put its id there.
#SBATCH --job-name=cleanup
#SBATCH --partition=cpu
#SBATCH --ntasks=1
#SBATCH --time=5:00
#SBATCH --dependency=afternotok:4900
#SBATCH --output=%x-%j.out

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
echo "cleaned after a failed run" > cleanup.txt
