#!/bin/bash
# Test input for `primus migrate`: options concatenated with +=, the launch line built as a
# string and run through eval; a small custom model no zoo preset has; mkdir/tee into the cwd.
GPUS=$(python3 -c "import torch; print(torch.cuda.device_count())")
OPTS=""
OPTS+=" --num-layers 6 --hidden-size 768 --ffn-hidden-size 2048 --num-attention-heads 12"
OPTS+=" --group-query-attention --num-query-groups 4"
OPTS+=" --position-embedding-type rope --rotary-base 500000 --no-position-embedding"
OPTS+=" --swiglu --disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-5"
OPTS+=" --untie-embeddings-and-output-weights"
OPTS+=" --seq-length 1024 --max-position-embeddings 1024"
OPTS+=" --micro-batch-size 4 --global-batch-size 64 --train-iters 500"
OPTS+=" --lr 6e-4 --min-lr 6e-5 --lr-decay-style cosine --lr-warmup-iters 50"
OPTS+=" --weight-decay 0.1 --clip-grad 1.0"
OPTS+=" --data-path 0.7 /data/web_text_document 0.3 /data/code_text_document --split 98,2,0"
OPTS+=" --tokenizer-type HuggingFaceTokenizer --tokenizer-model mistralai/Mixtral-8x7B-v0.1"
OPTS+=" --save ./checkpoints --save-interval 100 --eval-interval 100 --eval-iters 10"
mkdir -p logs
CMD="torchrun --nproc_per_node $GPUS --master_port 29501 pretrain_gpt.py $OPTS"
echo "$CMD"
eval "$CMD" 2>&1 | tee logs/train.log
