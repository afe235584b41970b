#!/bin/bash
# In the style of the MareNostrum 5 user guide, "Job examples for the ACC partition"
# (bsc.es/supportkc); written for this corpus. Cores are scaled to Gigafactory's
# test cluster.
#SBATCH --job-name=mn5-train
#SBATCH -D .
#SBATCH --output=%x_%j.out
#SBATCH --error=%x_%j.err
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:4
#SBATCH --time=00:30:00
#SBATCH --account=ehpc00
#SBATCH --qos=acc_debug
#SBATCH --hint=nomultithread

module load mkl intel impi
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo trained > model.bin
