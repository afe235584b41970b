#!/bin/bash
# In the style of the Leonardo user guide, "Leonardo DCGP: CPU batch jobs"
# (docs.hpc.cineca.it); written for this corpus. Job 4800 is the model being
# evaluated (leonardo-booster.sh): put its id there.
#SBATCH --job-name=nightly-eval
#SBATCH --account=EUHPC_A01_000
#SBATCH --partition=dcgp_usr_prod
#SBATCH --nodes=1
#SBATCH --ntasks=16
#SBATCH --time=08:00:00
#SBATCH --dependency=singleton,after:4800
#SBATCH --output=%x.%j.out

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
sleep 1
echo "$SLURM_JOB_ID" >> eval.history
