#!/bin/bash
#SBATCH --gpus=10
#SBATCH --nodes=4
#SBATCH --gres=gpu:a100:4
#SBATCH --gpus-per-node=h100:4
#SBATCH stray
#SBATCH --time
#SBATCH --gres=shard:2
#SBATCH --time=UNLIMITED
#GF --array=3
python x.py
