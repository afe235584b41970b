#!/bin/bash
# In the style of the Leonardo user guide, "Leonardo Booster: batch jobs and QoS"
# (docs.hpc.cineca.it); written for this corpus. Cores and memory are scaled to
# Gigafactory's test cluster.
#SBATCH -A EUHPC_A01_000
#SBATCH -p boost_usr_prod
#SBATCH --qos=boost_qos_dbg
#SBATCH --time 00:30:00
#SBATCH -N 1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:4
#SBATCH --mem=60000
#SBATCH --job-name=dbg-llm

module load cuda nccl
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
sleep 2
echo "loss 1.23" > finetune.log
