#!/bin/bash
# In the style of the Discoverer documentation (Sofia Tech Park), "Running jobs:
# the cn partition" (docs.discoverer.bg); written for this corpus.
#SBATCH --partition=cn
#SBATCH --job-name=gromacs
#SBATCH --time=2-00:00:00
#SBATCH --account=ehpc-reg-2026d00-000
#SBATCH --qos=ehpc-reg-2026d00-000
#SBATCH --nodes 1
#SBATCH --ntasks-per-node 64
#SBATCH --cpus-per-task 2
#SBATCH --mem 251G
#SBATCH --export NONE
#SBATCH -o slurm.%j.out
#SBATCH -e slurm.%j.err

module load gromacs
srun gmx_mpi mdrun -deffnm md
