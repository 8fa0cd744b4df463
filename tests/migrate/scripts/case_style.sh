#!/bin/bash
# Test input for `primus migrate`: model chosen by a case statement, python -m torch.distributed.run,
# positional arguments instead of KEY=VALUE (MODEL as $1).
MODEL=${1:-qwen2.5-7b}
case "$MODEL" in
    qwen2.5-7b)
        LAYERS=28; HIDDEN=3584; FFN=18944; HEADS=28; KV_GROUPS=4 ;;
    qwen2.5-72b)
        LAYERS=80; HIDDEN=8192; FFN=29568; HEADS=64; KV_GROUPS=8 ;;
    *)
        echo "unknown model '$MODEL'" >&2
        exit 2 ;;
esac

ARGS="--num-layers $LAYERS --hidden-size $HIDDEN --ffn-hidden-size $FFN"
ARGS="$ARGS --num-attention-heads $HEADS --group-query-attention --num-query-groups $KV_GROUPS"
ARGS="$ARGS --add-qkv-bias --disable-bias-linear --swiglu --normalization RMSNorm --norm-epsilon 1e-6"
ARGS="$ARGS --position-embedding-type rope --rotary-base 1000000 --no-position-embedding"
ARGS="$ARGS --untie-embeddings-and-output-weights --init-method-std 0.008"
ARGS="$ARGS --attention-dropout 0.0 --hidden-dropout 0.0"
ARGS="$ARGS --seq-length 4096 --max-position-embeddings 131072"
ARGS="$ARGS --micro-batch-size 1 --global-batch-size 16 --train-iters 30 --lr 2e-5 --min-lr 2e-6"
ARGS="$ARGS --tensor-model-parallel-size ${TP:-4} --sequence-parallel --bf16"
ARGS="$ARGS --tokenizer-type HuggingFaceTokenizer --tokenizer-model Qwen/Qwen2.5-7B --mock-data"

python -m torch.distributed.run --nproc_per_node ${GPUS:-8} --nnodes ${NNODES:-1} pretrain_gpt.py $ARGS
