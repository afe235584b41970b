#!/bin/bash
# In the style of the Deucalion user guide, "Submitting jobs to the ARM (A64FX)
# partition" (docs.macc.fccn.pt); written for this corpus.
#SBATCH --job-name=cfd
#SBATCH --account=f202400000cpcaa0a
#SBATCH --partition=normal-arm
#SBATCH --nodes=2-4
#SBATCH --ntasks-per-node=48
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=cfd-%j-%N.out
#SBATCH --begin=now+1hour

ml OpenMPI
srun ./simpleFoam -parallel
