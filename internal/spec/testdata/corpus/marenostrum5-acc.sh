#!/bin/bash
# In the style of the MareNostrum 5 user guide, "Job examples for the ACC partition"
# (bsc.es/supportkc); written for this corpus.
#SBATCH --job-name=mn5-train
#SBATCH -D .
#SBATCH --output=%x_%j.out
#SBATCH --error=%x_%j.err
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=20
#SBATCH --gres=gpu:4
#SBATCH --time=00:30:00
#SBATCH --account=ehpc00
#SBATCH --qos=acc_debug
#SBATCH --hint=nomultithread

module load mkl intel impi
srun ./train_bin
