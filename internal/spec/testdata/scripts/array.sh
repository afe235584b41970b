#!/bin/bash
#SBATCH --job-name=sweep
#SBATCH --gres=gpu:1

#SBATCH --array=1-10
#SBATCH --mem-bind=local
#SBATCH --gres=gpu:-1
#SBATCH --time=abc
#SBATCH -N 0
#SBATCH -q turbo
#GF --residency DE,XX
python sweep.py
