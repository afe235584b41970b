#!/bin/bash
#SBATCH --job-name=llama-70b-pretrain
#SBATCH -A eu-llm
#SBATCH --nodes=4
#SBATCH --gres=gpu:h100:8
#SBATCH --ntasks-per-node=8
#SBATCH --time=1-12:00:00
#SBATCH -p gpu -q large-scale
#SBATCH --output=logs/%j.out --error logs/%j.err
#SBATCH --chdir /scratch/eu-llm
#SBATCH --export=ALL   # trailing comment
#SBATCH --comment "pretraining run 3"
#GF --residency DE,FR --preemptible --checkpointable --model-tag llama-70b
#GF --env NCCL_DEBUG=INFO

srun python train.py
#SBATCH --time=5:00
