# Sourced by train.sh: two nodes of eight GPUs.
GPUS_PER_NODE=8
NNODES=${NNODES:-2}
