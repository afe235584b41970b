#!/bin/bash
# In the style of the JURECA user documentation, "Batch system: dependencies,
# reservations and features" (apps.fz-juelich.de/jsc/hps/jureca); written for this corpus.
#SBATCH -J postprocess
#SBATCH -A exalab
#SBATCH -p dc-cpu
#SBATCH -C largemem
#SBATCH -N 1
#SBATCH -n 1
#SBATCH -c 64
#SBATCH -t 90:00
#SBATCH -d afterany:4711:4712?afternotok:4713
#SBATCH --reservation=maint-2026-12
#SBATCH --deadline=2026-12-31T18:00
#SBATCH --signal=TERM@120

python collect.py
