#!/bin/bash
# Test input for `primus migrate`: submits a Slurm batch job; the job script (next to this one)
# takes its node count from #SBATCH and runs torchrun under srun on every node.
set -e
sbatch --job-name=llama --partition=gpu job.slurm "$@"
