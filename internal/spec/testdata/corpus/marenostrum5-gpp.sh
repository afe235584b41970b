#!/bin/bash
# In the style of the MareNostrum 5 user guide, "Job examples for the GPP partition"
# (bsc.es/supportkc); written for this corpus. Cores are scaled to Gigafactory's
# test cluster.
# Before submitting: mkdir -p run
#SBATCH --job-name=mn5-gpp
#SBATCH --chdir=run
#SBATCH --output=%x_%j.out
#SBATCH --error=%x_%j.err
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=2
#SBATCH --constraint=highmem
#SBATCH --time=00:10:00
#SBATCH --account=ehpc00
#SBATCH --qos=gp_debug

module load intel impi
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "converged" > result.out
