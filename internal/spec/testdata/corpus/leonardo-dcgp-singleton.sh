#!/bin/bash
# In the style of the Leonardo user guide, "Leonardo DCGP: CPU batch jobs"
# (docs.hpc.cineca.it); written for this corpus.
#SBATCH --job-name=nightly-eval
#SBATCH --account=EUHPC_A01_000
#SBATCH --partition=dcgp_usr_prod
#SBATCH --nodes=1
#SBATCH --ntasks=112
#SBATCH --time=08:00:00
#SBATCH --dependency=singleton,after:4800+10
#SBATCH --output=%x.%j.out

srun ./evaluate
