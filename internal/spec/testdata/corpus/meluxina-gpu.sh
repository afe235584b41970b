#!/bin/bash -l
# In the style of the MeluXina user documentation, "Handling jobs" and "GPU jobs"
# (docs.lxp.lu); written for this corpus. Cores and memory are scaled to
# Gigafactory's test cluster.
#SBATCH -A p200000
#SBATCH -p gpu
#SBATCH -q default
#SBATCH -N 1
#SBATCH -n 4
#SBATCH --gpus-per-task=1
#SBATCH -c 4
#SBATCH --mem-per-gpu=12G
#SBATCH -t 01:00:00
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=researcher@example.eu

module load Python CUDA
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "4 replicas served" > infer.out
