#!/bin/sh
#SBATCH -J eval -N 2-4 -G a100:16 -t 90
#SBATCH --cpus-per-gpu=8 --mem-per-gpu=64G
#GF --residency EU --preemptible=false
python eval.py
