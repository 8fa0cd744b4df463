// Softmax cross-entropy over a padded vocabulary (Megatron pads the output layer to a multiple
// of --make-vocab-size-divisible-by; logits are [tokens, padded_vocab]).
//
// Padded columns [vocab, padded_vocab) are EXCLUDED from the softmax: the kernel reads only the
// first `vocab` logits of each row, so padding takes no probability whatever its value, and
// backward writes exactly 0 into the padded columns of dlogits (their weights get no gradient).
// (Megatron's own loss does include the padded logits; excluding them is deliberate: the padding
// is an implementation detail and must not change the model's distribution.)
//
// Per-token loss_t = logsumexp(logits_t[:vocab]) - logits_t[target_t], in fp32 with a max-shift.
// Loss masking and averaging are the caller's: backward takes a per-token weight
// dloss_t = d(total loss)/d(loss_t), e.g. loss_mask_t / sum(loss_mask) (times any loss scale).
// Hand-written: one streaming pass per row, and dlogits can overwrite logits in place so the
// [tokens, vocab] buffer is not duplicated.
#pragma once

#include <cstdint>

namespace primus::kernels {

// logits [tokens, padded_vocab], targets [tokens] (in [0, vocab)) ->
// losses [tokens], lse [tokens] (logsumexp, saved for backward).
void cross_entropy_forward(const float* logits, const std::int32_t* targets, float* losses,
                           float* lse, std::int64_t tokens, std::int64_t vocab,
                           std::int64_t padded_vocab);

// dlogits[t, v] = dloss[t] * (softmax(logits_t)[v] - [v == target_t]) for v < vocab, 0 for the
// padded columns. dlogits [tokens, padded_vocab] may alias logits (in-place).
void cross_entropy_backward(const float* logits, const float* lse, const std::int32_t* targets,
                            const float* dloss, float* dlogits, std::int64_t tokens,
                            std::int64_t vocab, std::int64_t padded_vocab);

// Forward and backward in one pass over each row (the row is still in cache for the gradient
// write, saving a full read of the logits): losses [tokens] and lse [tokens] as forward, and
// dlogits as backward with the per-token weights dloss (known up front: loss_mask/sum(mask)).
// dlogits may alias logits. Same results as forward followed by backward.
void cross_entropy_fused(const float* logits, const std::int32_t* targets, const float* dloss,
                         float* losses, float* lse, float* dlogits, std::int64_t tokens,
                         std::int64_t vocab, std::int64_t padded_vocab);

// Vocabulary-parallel pieces (Megatron's vocab_parallel_cross_entropy): a rank's logits
// [tokens, local] are the global columns [v0, v0 + local); columns >= vocab (padding) are ignored.
// The caller reduces over the tensor-parallel group: max with MAX, sum_exp and target with SUM,
// then lse = max + log(sum_exp) and loss = lse − target.
// max[t] over this rank's real columns (−inf when it holds none).
void cross_entropy_local_max(const float* logits, float* max, std::int64_t tokens, std::int64_t local,
                             std::int64_t v0, std::int64_t vocab);
// sum_exp[t] = Σ exp(x − max[t]) over this rank's real columns; target[t] = the target's logit
// when this rank holds it, else 0.
void cross_entropy_local_sums(const float* logits, const std::int32_t* targets, const float* max,
                              float* sum_exp, float* target, std::int64_t tokens, std::int64_t local,
                              std::int64_t v0, std::int64_t vocab);
// dlogits = dloss · (exp(x − lse) − [column is the target]); padding columns 0. May alias logits.
void cross_entropy_local_backward(const float* logits, const float* lse, const std::int32_t* targets,
                                  const float* dloss, float* dlogits, std::int64_t tokens,
                                  std::int64_t local, std::int64_t v0, std::int64_t vocab);

}  // namespace primus::kernels
