#!/bin/bash
# Test input for `primus migrate`: no torchrun; mpirun starts python directly (one process per GPU),
# flags in a bash array with a long option spelled --key=value.
NP=${NP:-4}
FLAGS=(
    --num-layers=8 --hidden-size=512 --ffn-hidden-size=1408 --num-attention-heads=8
    --group-query-attention --num-query-groups=4
    --swiglu --disable-bias-linear --normalization=RMSNorm --norm-epsilon=1e-5
    --position-embedding-type=rope --rotary-base=500000 --no-position-embedding
    --untie-embeddings-and-output-weights --seq-length=512 --max-position-embeddings=512
    --tensor-model-parallel-size=2 --micro-batch-size=2 --global-batch-size=16
    --train-iters=200 --lr=1e-3 --min-lr=1e-4 --lr-decay-style=cosine --lr-warmup-iters=20
    --mock-data --tokenizer-type=HuggingFaceTokenizer --tokenizer-model=mistralai/Mixtral-8x7B-v0.1
)
mpirun -np "$NP" --allow-run-as-root --bind-to none -x PATH python3 -u pretrain_gpt.py "${FLAGS[@]}"
