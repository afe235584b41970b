#!/bin/bash
# In the style of the JURECA user documentation, "Batch system: the DC module's CPU
# partition" (apps.fz-juelich.de/jsc/hps/jureca); written for this corpus. The
# first step of the chain that jureca-chain.sh and jureca-postprocess.sh continue.
#SBATCH --job-name=prepare
#SBATCH --account=exalab
#SBATCH --partition=dc-cpu
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=2
#SBATCH --mem-per-cpu=2G
#SBATCH --time=15
#SBATCH --output=prepare-%j.out
#SBATCH --error=prepare-%j.err

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
seq 1 1000 > input.dat
