#!/bin/bash -l
# In the style of the MeluXina user documentation, "Handling jobs" and "GPU jobs"
# (docs.lxp.lu); written for this corpus.
#SBATCH -A p200000
#SBATCH -p gpu
#SBATCH -q default
#SBATCH -N 1
#SBATCH -n 4
#SBATCH --gpus-per-task=1
#SBATCH -c 16
#SBATCH --mem-per-gpu=60G
#SBATCH -t 01:00:00
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=researcher@example.eu

module load Python CUDA
srun python infer.py
