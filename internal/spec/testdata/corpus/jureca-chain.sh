#!/bin/bash
# In the style of the JURECA user documentation, "Batch system: job chains and
# dependencies" (apps.fz-juelich.de/jsc/hps/jureca); written for this corpus.
#SBATCH --account=exalab
#SBATCH --partition=dc-gpu
#SBATCH --nodes 2
#SBATCH --ntasks-per-node 4
#SBATCH --gres gpu:4
#SBATCH --time 0-12:00
#SBATCH --dependency=afterok:4711
#SBATCH --requeue
#SBATCH --output chain-%j.log

srun ./solver --restart latest
