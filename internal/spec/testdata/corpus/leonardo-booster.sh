#!/bin/bash
# In the style of the Leonardo user guide, "Leonardo Booster: batch jobs and QoS"
# (docs.hpc.cineca.it); written for this corpus.
#SBATCH -A EUHPC_A01_000
#SBATCH -p boost_usr_prod
#SBATCH --qos=boost_qos_dbg
#SBATCH --time 00:30:00
#SBATCH -N 1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:4
#SBATCH --mem=494000
#SBATCH --job-name=dbg-llm

module load cuda nccl
srun python finetune.py --debug
