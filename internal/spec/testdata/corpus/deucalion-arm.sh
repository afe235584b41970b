#!/bin/bash
# In the style of the Deucalion user guide, "Submitting jobs to the ARM (A64FX)
# partition" (docs.macc.fccn.pt); written for this corpus. Node and task counts
# are scaled to Gigafactory's test cluster.
#SBATCH --job-name=cfd
#SBATCH --account=f202400000cpcaa0a
#SBATCH --partition=normal-arm
#SBATCH --nodes=2-4
#SBATCH --ntasks-per-node=4
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=cfd-%j-%N.out
#SBATCH --begin=now+5

ml OpenMPI
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "decomposed on $SLURM_JOB_NUM_NODES nodes" > log.decomposePar
