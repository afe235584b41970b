#!/bin/bash
# In the style of the JURECA user documentation, "Batch system: job chains and
# dependencies" (apps.fz-juelich.de/jsc/hps/jureca); written for this corpus.
# Job 4711 is the preparation step (jureca-prepare.sh): put its id there.
#SBATCH --account=exalab
#SBATCH --partition=dc-gpu
#SBATCH --nodes 2
#SBATCH --ntasks-per-node 4
#SBATCH --gres gpu:4
#SBATCH --time 0-12:00
#SBATCH --dependency=afterok:4711
#SBATCH --requeue
#SBATCH --output chain-%j.log

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
test -s input.dat || { echo "input.dat missing: did the preparation run?" >&2; exit 1; }
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "step $SLURM_JOB_ID" >> restart.list
