#!/bin/bash
TP=${TP:-1}
torchrun --nproc_per_node 1 pretrain_gpt.py --num-layers 2 --hidden-size 256 --num-attention-heads 4 \
  --seq-length 128 --max-position-embeddings 128 --micro-batch-size 1 --train-iters 5 --lr 1e-4 --mock-data \
  --tensor-model-parallel-size $TP
