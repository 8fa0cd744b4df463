#!/bin/bash
# Test input for `primus migrate`: a DeepSeek-V2-Lite launch in the style of the ROCm fork's
# DeepSeek-V2 example — its own entry point (pretrain_deepseek.py, which always builds latent
# attention, so no --multi-latent-attention), PAI-Megatron-Patch flags for the shared experts and
# the head split (--num-shared-experts, --qk-nope-head-dim, --qk-rope-head-dim), every layer MoE.
# EXACT=1 adds what the zoo's deepseek_v2_lite preset has beyond that (a dense first layer,
# q/k layer norms, YaRN mscale, pre-softmax routing).
set -e
EP=${EP:-8}
MLA_ARGS=(--kv-lora-rank 512 --qk-nope-head-dim 128 --qk-rope-head-dim 64 --v-head-dim 128)
MOE_ARGS=(--num-experts 64 --moe-router-topk 6 --moe-ffn-hidden-size 1408 --enable-shared-expert
    --num-shared-experts 2 --moe-layer-freq 1 --moe-aux-loss-coeff 1e-2 --moe-router-load-balancing-type aux_loss
    --expert-model-parallel-size "${EP}")
if [ "${EXACT:-0}" = 1 ]; then
    MOE_ARGS+=(--moe-layer-freq "([0]*1+[1]*26)" --moe-router-pre-softmax)
    MLA_ARGS+=(--qk-layernorm --mscale 0.707 --mscale-all-dim 0.707)
fi
torchrun --nproc_per_node 8 --nnodes 1 examples/deepseek_v2/pretrain_deepseek.py \
    --num-layers 27 --hidden-size 2048 --ffn-hidden-size 10944 --num-attention-heads 16 --kv-channels 128 \
    --swiglu --normalization RMSNorm --norm-epsilon 1e-06 --position-embedding-type rope --rotary-base 10000 \
    --rotary-scaling-factor 40 --untie-embeddings-and-output-weights --disable-bias-linear \
    --seq-length 2048 --max-position-embeddings 2048 --micro-batch-size 1 --global-batch-size 64 \
    --train-iters 50 --lr 1e-5 --min-lr 1e-6 --lr-decay-style cosine --lr-warmup-iters 2 \
    --bf16 --use-distributed-optimizer --mock-data \
    --tokenizer-type HuggingFaceTokenizer --tokenizer-model deepseek-ai/DeepSeek-V2-Lite \
    "${MLA_ARGS[@]}" "${MOE_ARGS[@]}"
