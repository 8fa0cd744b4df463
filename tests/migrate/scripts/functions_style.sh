#!/bin/bash
# Test input for `primus migrate`: strict mode, flag groups echoed by functions,
# GPU count from nvidia-smi, torchrun with --nproc-per-node=N (hyphen, '=' form).
set -euo pipefail

TP=${TP:-1}
PP=${PP:-1}
MBS=${MBS:-2}
GBS=${GBS:-32}

gpu_count() { nvidia-smi --query-gpu=index --format=csv,noheader | wc -l; }

model_args() {
    echo "--num-layers 32 --hidden-size 4096 --ffn-hidden-size 11008 --num-attention-heads 32"
    echo "--seq-length 4096 --max-position-embeddings 4096"
    echo "--use-rotary-position-embeddings --no-position-embedding --swiglu --disable-bias-linear"
    echo "--normalization RMSNorm --norm-epsilon 1e-5 --untie-embeddings-and-output-weights"
    echo "--attention-dropout 0 --hidden-dropout 0 --init-method-std 0.02"
}

training_args() {
    echo "--micro-batch-size $MBS --global-batch-size $GBS --train-iters 100"
    echo "--lr 1.5e-4 --min-lr 1.5e-5 --lr-decay-style cosine --lr-warmup-fraction 0.01"
    echo "--adam-beta1 0.9 --adam-beta2 0.95 --weight-decay 0.1 --clip-grad 1.0 --bf16"
    echo "--recompute-activations"
}

parallel_args() {
    echo "--tensor-model-parallel-size $TP --pipeline-model-parallel-size $PP"
}

data_args() {
    echo "--mock-data --tokenizer-type Llama2Tokenizer --tokenizer-model meta-llama/Llama-2-7b-hf"
    echo "--eval-interval 500 --eval-iters 5 --log-interval 5"
}

NPROC=$(gpu_count)
torchrun --nproc-per-node=$NPROC --nnodes=1 pretrain_gpt.py \
    $(model_args) $(training_args) $(parallel_args) $(data_args)
