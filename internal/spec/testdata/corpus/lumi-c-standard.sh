#!/bin/bash -l
# In the style of the LUMI user guide, "LUMI-C: the standard partition and MPI jobs"
# (docs.lumi-supercomputer.eu); written for this corpus. Nodes and ranks are scaled
# to Gigafactory's test cluster.
#SBATCH --job-name=mpi-cpu
#SBATCH --account=project_465000123
#SBATCH --partition=standard
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=2
#SBATCH --hint=multithread
#SBATCH --time=0-2
#SBATCH --output=%x-%j.out
#SBATCH --error=%x-%j.err

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"'
echo "16 ranks x $OMP_NUM_THREADS threads" > scaling.txt
