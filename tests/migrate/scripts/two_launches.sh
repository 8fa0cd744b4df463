#!/bin/bash
# Test input for `primus migrate`: a sweep that launches the same model twice, with TP 1 then TP 2
# (`--launch 2` picks the second).
for TP in 1 2; do
    torchrun --nproc_per_node 2 pretrain_gpt.py --num-layers 2 --hidden-size 256 --num-attention-heads 4 \
        --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --global-batch-size 4 \
        --train-iters 5 --lr 1e-4 --mock-data --tensor-model-parallel-size $TP
done
