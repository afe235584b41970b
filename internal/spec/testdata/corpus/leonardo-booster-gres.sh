#!/bin/bash
# In the style of the Leonardo user guide, "Leonardo Booster: requesting GPUs"
# (docs.hpc.cineca.it); written for this corpus.
#SBATCH --job-name=h100-probe
#SBATCH --account=EUHPC_A01_000
#SBATCH --partition=boost_usr_prod
#SBATCH --qos=normal
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:h100:1
#SBATCH --mem-per-cpu=4000
#SBATCH --time=10:00
#SBATCH --begin=now
#SBATCH --output=probe-%j.out

module load cuda
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
echo "devices ${CUDA_VISIBLE_DEVICES}" > probe.txt
