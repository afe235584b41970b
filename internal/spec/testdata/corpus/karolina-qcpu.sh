#!/bin/bash
# In the style of the IT4Innovations documentation for Karolina, "Job submission and
# execution: the qcpu partition" (docs.it4i.cz); written for this corpus.
#SBATCH --job-name=qcpu-post
#SBATCH --account=OPEN-00-00
#SBATCH --partition=qcpu
#SBATCH --ntasks=8
#SBATCH --mem-per-cpu=3G
#SBATCH --time=30:00
#SBATCH --mail-type=ALL
#SBATCH --mail-user=researcher@example.eu
#SBATCH --comment="nightly post-processing"

ml OpenMPI
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo done > post.txt
