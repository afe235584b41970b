#!/bin/bash -l
# In the style of the MeluXina user documentation, "Handling jobs: the cpu partition
# and job arrays" (docs.lxp.lu); written for this corpus.
# Before submitting: mkdir -p out
#SBATCH --job-name=sample
#SBATCH --account=p200000
#SBATCH --partition=cpu
#SBATCH --qos=short
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=00:15:00
#SBATCH --array=0-3
#SBATCH --export=ALL,OMP_PROC_BIND=true
#SBATCH --output=out/%x_%A_%a.out

module load foss
echo "PWD=$(pwd)"
echo "OMP_PROC_BIND=$OMP_PROC_BIND"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "sample ${SLURM_ARRAY_TASK_ID}" > "out/sample-${SLURM_ARRAY_TASK_ID}.csv"
