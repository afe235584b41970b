#!/bin/bash
# In the style of the JURECA user documentation, "JURECA-DC GPU nodes: generic
# resources" (apps.fz-juelich.de/jsc/hps/jureca); written for this corpus. The
# A100 nodes of Gigafactory's test cluster have two GPUs each.
#SBATCH --job-name=dc-a100
#SBATCH --account=exalab
#SBATCH --partition=dc-gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:a100:2
#SBATCH --time=20:00
#SBATCH --requeue

echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "gpus ${CUDA_VISIBLE_DEVICES}" > bench.txt
