#!/bin/bash -l
# In the style of the LUMI user guide, "Slurm batch jobs" and "GPU jobs on LUMI-G"
# (docs.lumi-supercomputer.eu); written for Gigafactory's corpus, not copied.
#SBATCH --job-name=gpt-pretrain
#SBATCH --account=project_465000123
#SBATCH --partition=standard-g
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=7
#SBATCH --exclusive
#SBATCH --mem=0
#SBATCH --time=1-00:00:00
#SBATCH --output=%x-%j.out

module load LUMI/24.03 partition/G
export MPICH_GPU_SUPPORT_ENABLED=1
srun --cpu-bind=mask_cpu:fe,fe00,fe0000,fe000000 ./select_gpu python train.py
