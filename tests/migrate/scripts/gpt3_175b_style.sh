#!/bin/bash
# Test input for `primus migrate`: a GPT-3 175B launch whose layout needs 16 nodes (TP 8 x PP 16)
# while the script hard-codes one node, as NVIDIA's multinode example does ("change for multinode
# config"): migrate needs --nnodes 16 or --world-size 128 to know the run it is meant for.
GPUS_PER_NODE=8
NUM_NODES=1
DISTRIBUTED_ARGS=(--nproc_per_node $GPUS_PER_NODE --nnodes $NUM_NODES --master_addr localhost --master_port 6000)
MODEL_ARGS=(--num-layers 96 --hidden-size 12288 --num-attention-heads 96 --seq-length 2048
    --max-position-embeddings 2048 --attention-backend auto)
TRAINING_ARGS=(--micro-batch-size 1 --global-batch-size 1536 --train-iters 500000 --weight-decay 0.1
    --adam-beta1 0.9 --adam-beta2 0.95 --init-method-std 0.006 --clip-grad 1.0 --bf16 --lr 6.0e-5
    --lr-decay-style cosine --min-lr 6.0e-6 --lr-warmup-fraction .001 --lr-decay-iters 430000)
PARALLEL_ARGS=(--tensor-model-parallel-size 8 --pipeline-model-parallel-size 16)
DATA_ARGS=(--mock-data --tokenizer-type NullTokenizer --vocab-size 50257 --split 949,50,1)
torchrun ${DISTRIBUTED_ARGS[@]} pretrain_gpt.py ${MODEL_ARGS[@]} ${TRAINING_ARGS[@]} ${PARALLEL_ARGS[@]} \
    ${DATA_ARGS[@]} --log-interval 100 --eval-interval 1000 --eval-iters 10
