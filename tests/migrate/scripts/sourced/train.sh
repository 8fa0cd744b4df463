#!/bin/bash
# Test input for `primus migrate`: settings come from env files sourced next to the script, one by
# a path relative to the working directory, one relative to the script.
source ./env.sh
source "$(dirname "$0")/cluster.sh"
torchrun --nproc_per_node "$GPUS_PER_NODE" --nnodes "$NNODES" --node_rank "${NODE_RANK:-0}" \
    pretrain_gpt.py $MODEL_ARGS $TRAIN_ARGS \
    --tensor-model-parallel-size "$TP" --pipeline-model-parallel-size "$PP"
