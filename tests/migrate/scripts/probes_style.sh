#!/bin/bash
# Test input for `primus migrate`: counts GPUs and NICs the ways real scripts do, insists they
# agree, clones Megatron-LM, installs requirements and waits for the network before launching.
set -eo pipefail
A=$(python3 -c "import torch; print(torch.cuda.device_count())")
B=$(nvidia-smi -L | wc -l)
C=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
D=$(rocm-smi --showid | grep -c 'GPU\[')
E=$(amd-smi list | grep -c '^GPU:')
NICS=$(ibv_devinfo | grep -c hca_id)
if [[ $A != "$B" || $A != "$C" || $A != "$D" || $A != "$E" ]]; then
    echo "GPU probes disagree: $A $B $C $D $E" >&2
    exit 4
fi
[[ $NICS -gt 0 ]] || { echo "no RDMA devices" >&2; exit 5; }
git clone https://github.com/NVIDIA/Megatron-LM.git
cd Megatron-LM
pip install -r requirements.txt
sleep 30
torchrun --nproc_per_node=$A pretrain_gpt.py --num-layers 8 --hidden-size 512 --ffn-hidden-size 1408 \
    --num-attention-heads 8 --group-query-attention --num-query-groups 4 --swiglu --disable-bias-linear \
    --normalization RMSNorm --position-embedding-type rope --rotary-base 500000 --no-position-embedding \
    --untie-embeddings-and-output-weights --seq-length 512 --max-position-embeddings 512 \
    --micro-batch-size 1 --global-batch-size 8 --train-iters 10 --lr 1e-3 --mock-data \
    --tokenizer-type HuggingFaceTokenizer --tokenizer-model mistralai/Mixtral-8x7B-v0.1
