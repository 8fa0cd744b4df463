#!/bin/bash
# Test input for `primus migrate`: the launch runs inside a ROCm container started by docker run,
# its settings passed with -e; the training command is given to bash -c.
IMAGE=${IMAGE:-rocm/megatron-lm:latest}
docker run --rm --device /dev/kfd --device /dev/dri --group-add video --ipc host --shm-size 64G \
    -v "$PWD:/workspace" -w /workspace -e TP=${TP:-2} -e SEQ=${SEQ:-2048} "$IMAGE" \
    bash -c 'torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 28 --hidden-size 3584 \
        --ffn-hidden-size 18944 --num-attention-heads 28 --group-query-attention --num-query-groups 4 \
        --add-qkv-bias --disable-bias-linear --swiglu --normalization RMSNorm --norm-epsilon 1e-6 \
        --position-embedding-type rope --rotary-base 1000000 --no-position-embedding \
        --untie-embeddings-and-output-weights --init-method-std 0.008 --attention-dropout 0 --hidden-dropout 0 \
        --seq-length $SEQ --max-position-embeddings 131072 --tensor-model-parallel-size $TP \
        --micro-batch-size 1 --global-batch-size 64 --train-iters 20 --lr 1e-5 --bf16 --mock-data \
        --tokenizer-type HuggingFaceTokenizer --tokenizer-model Qwen/Qwen2.5-7B'
