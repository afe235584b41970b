#!/bin/bash
# In the style of the JURECA user documentation, "Batch system: dependencies,
# reservations and features" (apps.fz-juelich.de/jsc/hps/jureca); written for this
# corpus. Jobs 4711, 4712 and 4713 are the preparation and the solver steps.
#SBATCH -J postprocess
#SBATCH -A exalab
#SBATCH -p dc-cpu
#SBATCH -C largemem
#SBATCH -N 1
#SBATCH -n 1
#SBATCH -c 16
#SBATCH -t 90:00
#SBATCH -d afterany:4711:4712?afternotok:4713
#SBATCH --reservation=maint-2026-12
#SBATCH --deadline=now+2days
#SBATCH --signal=TERM@120

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
wc -l < restart.list > collected.txt
