#!/usr/bin/env bash
# In the style of the IT4Innovations documentation for Karolina, "Job submission and
# execution: the qgpu partition" (docs.it4i.cz); written for this corpus.
#SBATCH --job-name embed
#SBATCH --account OPEN-00-00
#SBATCH --partition qgpu
#SBATCH --gpus a100:2
#SBATCH --time 02:00:00
#SBATCH --export ALL,NCCL_DEBUG=WARN
#SBATCH --comment "embedding refresh"

ml PyTorch
echo "PWD=$(pwd)"
echo "NCCL_DEBUG=$NCCL_DEBUG"
env | grep '^SLURM_' | sort
echo "visible: ${CUDA_VISIBLE_DEVICES}" > embeddings.idx
