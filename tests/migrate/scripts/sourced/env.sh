# Sourced by train.sh: the model (Llama 3 8B) and the schedule.
MODEL_ARGS="--num-layers 32 --hidden-size 4096 --ffn-hidden-size 14336 --num-attention-heads 32 \
 --group-query-attention --num-query-groups 8 --swiglu --disable-bias-linear --normalization RMSNorm \
 --norm-epsilon 1e-5 --position-embedding-type rope --rotary-base 500000 --no-position-embedding \
 --untie-embeddings-and-output-weights --seq-length 8192 --max-position-embeddings 8192"
TRAIN_ARGS="--micro-batch-size 1 --global-batch-size 128 --train-iters 50 --lr 1e-5 --bf16 --mock-data \
 --tokenizer-type HuggingFaceTokenizer --tokenizer-model meta-llama/Meta-Llama-3-8B"
TP=${TP:-8}
PP=${PP:-2}
