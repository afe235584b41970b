#!/bin/bash -l
# In the style of the LUMI user guide, "Slurm batch jobs" and "GPU jobs on LUMI-G"
# (docs.lumi-supercomputer.eu); written for Gigafactory's corpus, not copied. Nodes,
# GPUs and cores are scaled to Gigafactory's test cluster (4 GPUs per node).
#SBATCH --job-name=gpt-pretrain
#SBATCH --account=project_465000123
#SBATCH --partition=standard-g
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=4
#SBATCH --exclusive
#SBATCH --mem=0
#SBATCH --time=1-00:00:00
#SBATCH --output=%x-%j.out

module load LUMI/24.03 partition/G
export MPICH_GPU_SUPPORT_ENABLED=1
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun --cpu-bind=mask_cpu:f,f0,f00,f000 bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
mkdir -p checkpoints && echo "step 0" > checkpoints/latest
