#!/bin/bash
# Test input for `primus migrate`: refuses to run without DATA_PATH, as many real scripts do.
if [ -z "${DATA_PATH:-}" ]; then
    echo "error: DATA_PATH must be set to a tokenized dataset prefix" >&2
    exit 3
fi
torchrun --nproc_per_node 2 pretrain_gpt.py --num-layers 8 --hidden-size 512 --num-attention-heads 8 \
    --ffn-hidden-size 1408 --group-query-attention --num-query-groups 4 --swiglu --disable-bias-linear \
    --normalization RMSNorm --position-embedding-type rope --rotary-base 500000 --no-position-embedding \
    --untie-embeddings-and-output-weights --seq-length 512 --max-position-embeddings 512 \
    --micro-batch-size 2 --global-batch-size 8 --train-iters 10 --lr 1e-3 \
    --tokenizer-type HuggingFaceTokenizer --tokenizer-model mistralai/Mixtral-8x7B-v0.1 \
    --data-path "$DATA_PATH"
