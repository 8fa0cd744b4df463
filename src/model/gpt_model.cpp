#include "model/gpt_model.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "kernels/attention.hpp"
#include "kernels/bias.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/embedding.hpp"
#include "kernels/rope.hpp"
#include "model/linear.hpp"
#include "model/norm.hpp"

namespace primus::model {

RecomputePlan RecomputePlan::from_args(const config::Args& a) {
  RecomputePlan plan;
  if (!a.recompute_granularity || *a.recompute_granularity != "full") return plan;  // selective: see note below
  // Layers keep only their input and re-run forward in backward. uniform: every layer (the chunk
  // size only decides how many inputs Megatron keeps; we keep each layer's input, which is small);
  // block: the first recompute_num_layers layers.
  const std::string method = a.recompute_method.value_or("uniform");
  if (method != "uniform" && method != "block")
    fail("recompute_method '{}' is not supported; use uniform or block", method);
  plan.layers.assign(static_cast<size_t>(a.num_layers), method == "uniform");
  if (method == "block") {
    const std::int64_t n = a.recompute_num_layers.value_or(a.num_layers);
    for (std::int64_t i = 0; i < std::min(n, a.num_layers); ++i) plan.layers[static_cast<size_t>(i)] = true;
  }
  return plan;
}
// recompute_granularity=selective recomputes core attention in Megatron so that the [s×s] scores
// need not be kept; this engine's attention never materialises them, so there is nothing to do.

namespace {

// Field order of LayerActivations, with each buffer's size in floats (0: absent for this config).
std::vector<std::int64_t> activation_sizes(const ModelConfig& c, std::int64_t batch) {
  const std::int64_t T = batch * c.seq_length, h = c.hidden;
  const bool ln = c.norm == Norm::LayerNorm, qk = c.qk_layernorm;
  return {T * h,                       // ln1_out
          ln ? T : 0,                  // ln1_mean
          T,                           // ln1_rstd
          T * c.qkv_width(),           // qkv
          qk ? T * c.q_width() : 0,    // q_raw
          qk ? T * c.kv_width() : 0,   // k_raw
          qk && ln ? T * c.heads : 0,  // q_mean
          qk ? T * c.heads : 0,        // q_rstd
          qk && ln ? T * c.groups : 0, // k_mean
          qk ? T * c.groups : 0,       // k_rstd
          T * c.q_width(),             // attn
          batch * c.heads * c.seq_length,  // lse
          T * h,                       // x_mid
          T * h,                       // ln2_out
          ln ? T : 0,                  // ln2_mean
          T,                           // ln2_rstd
          T * c.fc1_width(),           // fc1
          T * c.ffn};                  // act
}

}  // namespace

GPTModel::GPTModel(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute)
    : config_(config), layout_(config), batch_(micro_batch), recompute_(recompute) {
  const ModelConfig& c = config_;
  if (micro_batch <= 0) fail("micro_batch_size must be positive");
  if (!recompute_.layers.empty() && static_cast<std::int64_t>(recompute_.layers.size()) != c.num_layers)
    fail("internal: recompute plan for {} layers, model has {}", recompute_.layers.size(), c.num_layers);
  const std::int64_t T = tokens_per_micro_batch(), h = c.hidden, P = layout_.total();
  // Output-layer chunk: about 8 M logits at a time.
  chunk_ = std::clamp<std::int64_t>((8 << 20) / std::max<std::int64_t>(c.padded_vocab, 1), 16, T);

  params_ = arena_.reserve<float>(static_cast<size_t>(P));
  grads_ = arena_.reserve<float>(static_cast<size_t>(P));
  if (c.bf16) params_bf16_ = arena_.reserve<bf16>(static_cast<size_t>(P));
  const std::int64_t widest = std::max({h, c.ffn, c.fc1_width(), c.qkv_width(), c.q_width()});
  const std::int64_t cast = c.bf16 ? std::max(T * widest, chunk_ * c.padded_vocab) : 0;
  scratch_a_ = arena_.reserve<bf16>(static_cast<size_t>(cast));
  scratch_b_ = arena_.reserve<bf16>(static_cast<size_t>(cast));

  residual_ = arena_.reserve<float>(static_cast<size_t>((c.num_layers + 1) * T * h));
  final_out_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  final_mean_ = arena_.reserve<float>(static_cast<size_t>(T));
  final_rstd_ = arena_.reserve<float>(static_cast<size_t>(T));
  dres_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  y_scratch_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  logits_ = arena_.reserve<float>(static_cast<size_t>(chunk_ * c.padded_vocab));
  losses_ = arena_.reserve<float>(static_cast<size_t>(chunk_));
  lse_ = arena_.reserve<float>(static_cast<size_t>(chunk_));
  dloss_ = arena_.reserve<float>(static_cast<size_t>(chunk_));

  tmp_h_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  d_mid_ = arena_.reserve<float>(static_cast<size_t>(T * std::max(c.ffn, c.q_width())));
  d_big_ = arena_.reserve<float>(static_cast<size_t>(T * std::max(c.fc1_width(), c.qkv_width())));
  qk_tmp_ = arena_.reserve<float>(static_cast<size_t>(c.qk_layernorm ? T * c.q_width() : 0));
  norm_ws_ = arena_.reserve<float>(static_cast<size_t>(norm_workspace(std::max(h, c.head_dim))));
  bias_ws_ = arena_.reserve<float>(kernels::bias_backward_workspace(std::max(widest, c.padded_vocab)));
  kernels::AttentionShape shape{batch_, c.seq_length, c.heads, c.groups, c.head_dim, c.qkv_width(), c.qkv_width(),
                                c.q_width()};
  shape.validate();
  const int threads = num_threads();
  scratch_.attn_ws_floats =
      std::max(kernels::attention_forward_workspace(shape, threads), kernels::attention_backward_workspace(shape, threads));
  attn_ws_ = arena_.reserve<float>(scratch_.attn_ws_floats);
  rope_table_ = arena_.reserve<float>(kernels::rope_table_size(c.rope, c.seq_length));

  // Saved activations of every layer that keeps them, plus one set for recompute and evaluation.
  const auto sizes = activation_sizes(c, batch_);
  auto reserve_set = [&] {
    std::vector<Arena::Slot<float>> slots;
    for (std::int64_t n : sizes) slots.push_back(arena_.reserve<float>(static_cast<size_t>(n)));
    return slots;
  };
  saved_slots_.resize(static_cast<size_t>(c.num_layers));
  for (std::int64_t l = 0; l < c.num_layers; ++l)
    if (recompute_.layers.empty() || !recompute_.layers[static_cast<size_t>(l)]) saved_slots_[static_cast<size_t>(l)] = reserve_set();
  scratch_slots_ = reserve_set();

  arena_.allocate();  // one allocation, zeroed and pre-faulted

  saved_.resize(static_cast<size_t>(c.num_layers));
  for (std::int64_t l = 0; l < c.num_layers; ++l)
    if (!saved_slots_[static_cast<size_t>(l)].empty()) saved_[static_cast<size_t>(l)] = carve_activations(saved_slots_[static_cast<size_t>(l)]);
  scratch_acts_ = carve_activations(scratch_slots_);
  scratch_.tmp_h = arena_.get(tmp_h_);
  scratch_.d_mid = arena_.get(d_mid_);
  scratch_.d_big = arena_.get(d_big_);
  scratch_.qk_tmp = arena_.get(qk_tmp_);
  scratch_.norm_ws = arena_.get(norm_ws_);
  scratch_.attn_ws = arena_.get(attn_ws_);
  scratch_.linear = LinearScratch{arena_.get(scratch_a_), arena_.get(scratch_b_), arena_.get(bias_ws_)};
  kernels::rope_tables(c.rope, c.seq_length, arena_.get(rope_table_));
  scratch_.rope_table = arena_.get(rope_table_);
}

LayerActivations GPTModel::carve_activations(std::vector<Arena::Slot<float>>& slots) {
  float* p[18];
  for (size_t i = 0; i < 18; ++i) p[i] = slots[i].count ? arena_.get(slots[i]) : nullptr;
  return LayerActivations{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8],
                          p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16], p[17]};
}

std::int64_t GPTModel::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : layout_.params()) n += p.numel();
  return n;
}

void GPTModel::initialize(std::uint64_t seed) {
  float* w = params();
  const auto& ps = layout_.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    const ParamInfo& p = ps[i];
    if (p.init_std > 0.0f) {
      // One Philox stream per parameter: values depend on (seed, parameter), not on threads or order.
      Rng(seed, i + 1).fill_normal(w + p.offset, static_cast<size_t>(p.numel()), 0.0f, p.init_std);
    } else {
      kernels::fill(w + p.offset, p.init_value, p.numel());
    }
  }
  parameters_changed();
}

void GPTModel::parameters_changed() {
  if (config_.bf16) convert_f32_to_bf16(params(), params_bf16(), static_cast<size_t>(num_params()));
}

void GPTModel::zero_grads() { parallel_zero(grads(), static_cast<size_t>(num_params()) * sizeof(float)); }

LayerParams GPTModel::layer_params(std::int64_t l) {
  return LayerParams{&layout_.layers[static_cast<size_t>(l)], params(), params_bf16(), grads()};
}

void GPTModel::forward_layers(const MicroBatch& batch, bool keep_activations) {
  const ModelConfig& c = config_;
  const std::int64_t T = tokens_per_micro_batch(), h = c.hidden;
  float* x = arena_.get(residual_);
  kernels::embedding_forward(batch.tokens, params() + layout_.embedding, x, T, c.padded_vocab, h);
  const LayerShape shape{batch_, c.seq_length};
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    LayerActivations& acts =
        (keep_activations && !saved_slots_[static_cast<size_t>(l)].empty()) ? saved_[static_cast<size_t>(l)] : scratch_acts_;
    layer_forward(c, layer_params(l), shape, x + l * T * h, x + (l + 1) * T * h, acts, scratch_);
  }
  norm_forward(c.norm, c.norm_eps,
               NormParams{params() + layout_.final_norm_w, layout_.final_norm_b < 0 ? nullptr : params() + layout_.final_norm_b,
                          nullptr, nullptr},
               x + c.num_layers * T * h, arena_.get(final_out_), arena_.get(final_mean_), arena_.get(final_rstd_), T, h);
}

double GPTModel::output_and_loss(const MicroBatch& batch, bool backward, float loss_weight, float* logits_out) {
  const ModelConfig& c = config_;
  const std::int64_t T = tokens_per_micro_batch(), h = c.hidden, V = c.padded_vocab;
  const float* final_out = arena_.get(final_out_);
  float* logits = arena_.get(logits_);
  float* losses = arena_.get(losses_);
  float* lse = arena_.get(lse_);
  float* dloss = arena_.get(dloss_);
  float* dfinal = arena_.get(dres_);
  LinearWeights out{params() + layout_.output, params_bf16() ? params_bf16() + layout_.output : nullptr, nullptr,
                    grads() + layout_.output, nullptr, h, V};
  double total = 0.0;
  for (std::int64_t t0 = 0; t0 < T; t0 += chunk_) {
    const std::int64_t n = std::min(chunk_, T - t0);
    // logits[n, V] = final_out[t0:t0+n] @ W_out^T
    linear_forward(out, final_out + t0 * h, logits, n, scratch_.linear);
    if (logits_out) std::memcpy(logits_out + t0 * V, logits, static_cast<size_t>(n * V) * sizeof(float));
    kernels::cross_entropy_forward(logits, batch.labels + t0, losses, lse, n, c.vocab, V);
    for (std::int64_t t = 0; t < n; ++t) total += static_cast<double>(losses[t]) * batch.loss_mask[t0 + t];
    if (!backward) continue;
    for (std::int64_t t = 0; t < n; ++t) dloss[t] = batch.loss_mask[t0 + t] * loss_weight;
    kernels::cross_entropy_backward(logits, lse, batch.labels + t0, dloss, logits, n, c.vocab, V);
    // d final_out[t0:t0+n] = dlogits @ W_out; dW_out += dlogits^T @ final_out
    linear_backward(out, logits, final_out + t0 * h, dfinal + t0 * h, n, scratch_.linear);
  }
  return total;
}

double GPTModel::forward_loss(const MicroBatch& batch, float* logits) {
  forward_layers(batch, /*keep_activations=*/false);
  return output_and_loss(batch, false, 0.0f, logits);
}

double GPTModel::forward_backward(const MicroBatch& batch, float loss_weight) {
  const ModelConfig& c = config_;
  const std::int64_t T = tokens_per_micro_batch(), h = c.hidden;
  forward_layers(batch, /*keep_activations=*/true);
  const double loss_sum = output_and_loss(batch, true, loss_weight, nullptr);

  float* x = arena_.get(residual_);
  float* dres = arena_.get(dres_);
  NormParams final_norm{params() + layout_.final_norm_w,
                        layout_.final_norm_b < 0 ? nullptr : params() + layout_.final_norm_b,
                        grads() + layout_.final_norm_w, layout_.final_norm_b < 0 ? nullptr : grads() + layout_.final_norm_b};
  norm_backward(c.norm, final_norm, dres, x + c.num_layers * T * h, arena_.get(final_mean_), arena_.get(final_rstd_),
                dres, T, h, scratch_.norm_ws);
  const LayerShape shape{batch_, c.seq_length};
  for (std::int64_t l = c.num_layers - 1; l >= 0; --l) {
    const float* x_in = x + l * T * h;
    LayerActivations* acts = &saved_[static_cast<size_t>(l)];
    if (saved_slots_[static_cast<size_t>(l)].empty()) {
      // Recomputed layer: re-run its forward from the kept input.
      acts = &scratch_acts_;
      layer_forward(c, layer_params(l), shape, x_in, arena_.get(y_scratch_), *acts, scratch_);
    }
    layer_backward(c, layer_params(l), shape, x_in, dres, *acts, scratch_);
  }
  kernels::embedding_backward(batch.tokens, dres, grads() + layout_.embedding, T, c.padded_vocab, h);
  return loss_sum;
}

}  // namespace primus::model
