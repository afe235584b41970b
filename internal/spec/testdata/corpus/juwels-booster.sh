#!/bin/bash -x
# In the style of the JUWELS user documentation, "Batch system" and "JUWELS Booster
# GPU jobs" (apps.fz-juelich.de/jsc/hps/juwels); written for this corpus. Node and
# core counts are scaled to Gigafactory's test cluster.
#SBATCH --account=exalab
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:4
#SBATCH --partition=booster
#SBATCH --time=06:00:00
#SBATCH --output=gpu-out.%j
#SBATCH --error=gpu-err.%j
#SBATCH --signal=B:USR1@600

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}
trap 'touch checkpoint.request' USR1
echo "PWD=$(pwd)"
env | grep '^SLURM_' | sort
srun --cpu-bind=socket bash -c 'echo "rank $SLURM_PROCID of $SLURM_NTASKS"' &
wait
echo "OMP_NUM_THREADS=$OMP_NUM_THREADS" > fit.done
