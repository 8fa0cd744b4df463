#include "model/pipeline_stage.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "kernels/bias.hpp"
#include "kernels/elementwise.hpp"
#include "model/moe/moe_layer.hpp"
#include "model/norm.hpp"
#include "parallel/context_parallel.hpp"

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

// FNV-1a: a parameter's random stream is named after it, so adding or moving parameters never
// shifts another parameter's values.
std::uint64_t stream_of(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

}  // namespace

PipelineStage::PipelineStage(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute,
                             std::vector<StageRange> chunks, std::int64_t activation_slots,
                             std::int64_t region_alignment, const ModelParallel& parallel,
                             parallel::Communicator* embedding_group)
    : config_(config),
      slots_(activation_slots),
      parallel_(parallel),
      embedding_group_(embedding_group),
      batch_(micro_batch),
      recompute_(recompute) {
  const ModelConfig& c = config_;
  if (micro_batch <= 0) fail("micro_batch_size must be positive");
  if (!recompute_.layers.empty() && static_cast<std::int64_t>(recompute_.layers.size()) != c.num_layers)
    fail("internal: recompute plan for {} layers, model has {}", recompute_.layers.size(), c.num_layers);
  if (chunks.empty() || activation_slots <= 0) fail("internal: a stage of {} chunks with {} activation slots", chunks.size(), activation_slots);
  for (size_t k = 0; k < chunks.size(); ++k) {
    const StageRange& r = chunks[k];
    if (r.first_layer < 0 || r.num_layers < 0 || r.first_layer + r.num_layers > c.num_layers)
      fail("internal: stage layers [{}, {}) outside the model's {}", r.first_layer, r.first_layer + r.num_layers,
           c.num_layers);
    if ((r.pre_process && k != 0) || (r.post_process && k + 1 != chunks.size()))
      fail("internal: the embedding must be in a stage's first chunk and the loss in its last");
    chunks_.push_back(Chunk{r, 0, {}, {}, {}});
  }
  // Context parallelism: this rank holds 2 of the 2·cp chunks of each sequence.
  const int cp = parallel_.cp_size();
  if (c.seq_length % (2 * cp) != 0 && cp > 1)
    fail("seq_length {} is not divisible by 2 × context_parallel_size = {}", c.seq_length, 2 * cp);
  seq_ = c.seq_length / cp;
  if (cp > 1) {
    positions_ = parallel::context_parallel_positions(c.seq_length, cp, parallel_.cp_rank());
  }
  if (seq_ % parallel_.sp() != 0)
    fail("seq_length / context_parallel_size = {} is not divisible by tensor_model_parallel_size {} (sequence_parallel)",
         seq_, parallel_.sp());
  // The residual stream holds the rank's tokens (its sequence shard under sequence parallelism).
  const std::int64_t T = local_tokens(), h = c.hidden;

  // Build the blocks: they declare their parameters and plan their buffers. The last stage of a
  // pipeline keeps a copy of the word embeddings when the output layer or the MTP layers use them.
  BufferPlan post_scratch, mtp_saved, mtp_own;
  BuildContext ctx{c, layout_, rope_tables_, linear_needs_, parallel_, batch_, seq_, cp > 1 ? positions_.data() : nullptr,
                   c.seq_length};
  if (pre_process() || (post_process() && (c.tied_embeddings || c.mtp_layers > 0)))
    embedding_ = std::make_unique<Embedding>(ctx, post_scratch);
  for (Chunk& chunk : chunks_) {
    chunk.first = layers_.size();
    for (std::int64_t i = 0; i < chunk.range.num_layers; ++i) {
      const std::int64_t l = chunk.range.first_layer + i;
      const auto first = static_cast<ParamId>(layout_.params().size());
      layers_.push_back(std::make_unique<TransformerLayer>(ctx, fmt::format("decoder.layers.{}.", l), c.layer_spec(l)));
      layer_params_.emplace_back(first, static_cast<ParamId>(layout_.params().size()));
      if (auto* moe = dynamic_cast<MoeLayer*>(&layers_.back()->mlp())) {
        routers_.push_back(&moe->router());
        moe_layers_.emplace_back(fmt::format("decoder.layers.{}", l), moe);
      }
    }
  }
  if (post_process()) {
    const bool ln = c.norm == Norm::LayerNorm;
    const bool partial = parallel_.sequence_parallel && parallel_.tp_size() > 1;
    final_norm_w_ = layout_.add({.name = "decoder.final_layernorm.weight", .global_rows = h, .decay = false,
                                 .init_value = 1.0f, .sum_grad_over_tp = partial});
    if (ln)
      final_norm_b_ = layout_.add({.name = "decoder.final_layernorm.bias", .global_rows = h, .decay = false,
                                   .sum_grad_over_tp = partial});
    output_ = std::make_unique<OutputLayer>(ctx, c.tied_embeddings ? embedding_->weight() : kNoParam, post_scratch);
    if (c.mtp_layers > 0) {
      mtp_ = std::make_unique<MultiTokenPrediction>(ctx, mtp_saved, mtp_own);
      mtp_losses_.assign(static_cast<size_t>(c.mtp_layers), 0.0);
      for (std::int64_t k = 0; k < mtp_->depth(); ++k)  // MoE MTP layers balance their load too
        if (auto* moe = dynamic_cast<MoeLayer*>(&mtp_->layer(k).mlp())) {
          routers_.push_back(&moe->router());
          moe_layers_.emplace_back(fmt::format("mtp.layers.{}.transformer_layer", k), moe);
        }
    }
  }
  layout_.finalize(region_alignment);

  // Plan the arena.
  const auto P = static_cast<size_t>(layout_.total());
  params_ = arena_.reserve<float>(P);
  grads_ = arena_.reserve<float>(P);
  if (c.bf16) params_bf16_ = arena_.reserve<bf16>(P);
  const auto cast = static_cast<size_t>(c.bf16 ? linear_needs_.elements : 0);
  cast_a_ = arena_.reserve<bf16>(cast);
  cast_b_ = arena_.reserve<bf16>(cast);
  bias_ws_ = arena_.reserve<float>(kernels::bias_backward_workspace(std::max(linear_needs_.width, h)));
  norm_ws_ = arena_.reserve<float>(static_cast<size_t>(norm_workspace(h)));
  final_out_ = arena_.reserve<float>(static_cast<size_t>(post_process() ? T * h : 0));
  final_mean_ = arena_.reserve<float>(static_cast<size_t>(post_process() ? T : 0));
  final_rstd_ = arena_.reserve<float>(static_cast<size_t>(post_process() ? T : 0));
  tmp_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  y_scratch_ = arena_.reserve<float>(static_cast<size_t>(T * h));
  std::int64_t scratch = std::max(post_scratch.total(), mtp_ ? mtp_->scratch_floats() : 0), largest_set = 0;
  for (const auto& layer : layers_) {
    scratch = std::max(scratch, layer->scratch_floats());
    largest_set = std::max(largest_set, layer->saved_floats());
  }
  scratch_ = arena_.reserve<float>(static_cast<size_t>(scratch));
  for (Chunk& chunk : chunks_) {
    const std::int64_t nl = chunk.range.num_layers;
    chunk.saved.resize(static_cast<size_t>(slots_));
    for (std::int64_t s = 0; s < slots_; ++s) {
      chunk.residual.push_back(arena_.reserve<float>(static_cast<size_t>((nl + 1) * T * h)));
      chunk.grad.push_back(arena_.reserve<float>(static_cast<size_t>(T * h)));
      for (std::int64_t i = 0; i < nl; ++i) {
        const bool recomputed =
            !recompute_.layers.empty() && recompute_.layers[static_cast<size_t>(chunk.range.first_layer + i)];
        const auto& layer = layers_[chunk.first + static_cast<size_t>(i)];
        chunk.saved[static_cast<size_t>(s)].push_back(
            arena_.reserve<float>(static_cast<size_t>(recomputed ? 0 : layer->saved_floats())));
      }
    }
  }
  shared_set_ = arena_.reserve<float>(static_cast<size_t>(largest_set));
  mtp_set_ = arena_.reserve<float>(static_cast<size_t>(mtp_saved.total()));
  mtp_own_ = arena_.reserve<float>(static_cast<size_t>(mtp_own.total()));

  // One allocation, zeroed and pre-faulted — after the run's memory check (core/memory_budget.hpp).
  arena_.allocate({{c.bf16 ? "parameters, gradients and their bf16 copy" : "parameters and gradients",
                    static_cast<std::uint64_t>(P) * (c.bf16 ? 10 : 8)}});
  linear_ = LinearScratch{arena_.get(cast_a_), arena_.get(cast_b_), arena_.get(bias_ws_)};
}

PipelineStage::~PipelineStage() = default;

std::int64_t PipelineStage::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : layout_.params()) n += p.numel();
  return n;
}

void PipelineStage::initialize(std::uint64_t seed) {
  float* w = params();
  for (const ParamInfo& p : layout_.params()) {
    float* dst = w + p.offset;
    if (p.init_std <= 0.0f) {
      kernels::fill(dst, p.init_value, p.numel());
      continue;
    }
    // Each local row takes its elements of the global tensor (row-major) from the parameter's stream.
    const Rng rng(seed, stream_of(p.name));
    const std::int64_t cols = p.cols ? p.cols : 1, gcols = p.global_cols ? p.global_cols : 1;
    if (p.is_whole()) {
      rng.fill_normal_at(dst, 0, static_cast<size_t>(p.numel()), 0.0f, p.init_std);
      continue;
    }
    for (std::int64_t r = 0; r < p.rows; ++r)
      rng.fill_normal_at(dst + r * cols, static_cast<std::uint64_t>(p.global_row(r) * gcols + p.shard.col_begin),
                         static_cast<size_t>(cols), 0.0f, p.init_std);
  }
  parameters_changed();
}

void PipelineStage::parameters_changed() {
  if (config_.bf16) convert_f32_to_bf16(params(), params_bf16(), static_cast<size_t>(num_params()));
}

void PipelineStage::zero_grads() { parallel_zero(grads(), static_cast<size_t>(num_params()) * sizeof(float)); }

StageWeights PipelineStage::weights() { return StageWeights{&layout_, params(), params_bf16(), grads()}; }

void PipelineStage::for_each_region_range(const ParameterLayout& layout, ParamId first, ParamId last,
                                          const std::function<void(std::int64_t, std::int64_t)>& hook) {
  if (first >= last) return;
  // A layer's parameters are contiguous within each region (dense; experts).
  for (ParamGroup g : {ParamGroup::Dense, ParamGroup::Expert}) {
    std::int64_t begin = -1, end = -1;
    for (ParamId id = first; id < last; ++id) {
      const ParamInfo& p = layout[id];
      if (p.group != g) continue;
      if (begin < 0) begin = p.offset;
      end = p.offset + p.numel();
    }
    if (begin >= 0) hook(begin, end);
  }
}

void PipelineStage::grads_ready(ParamId first, ParamId last, const MicroBatchState& state) {
  if (!state.finalize_grads) return;
  if (parallel_.tp_size() > 1)
    for (ParamId id = first; id < last; ++id)
      if (layout_[id].sum_grad_over_tp) parallel_.tp_group().allreduce(grads() + layout_[id].offset, layout_[id].numel());
  if (grad_ready_hook_) for_each_region_range(layout_, first, last, grad_ready_hook_);
}

void PipelineStage::params_needed(ParamId first, ParamId last) {
  if (params_needed_hook_) for_each_region_range(layout_, first, last, params_needed_hook_);
}

void PipelineStage::forward_layers(Chunk& chunk, std::int64_t slot, const MicroBatch& batch, bool keep_activations,
                                   const MicroBatchState& state) {
  const ModelConfig& c = config_;
  const std::int64_t T = local_tokens(), h = c.hidden;
  const StageWeights w = weights();
  const auto s = static_cast<size_t>(slot);
  float* x = arena_.get(chunk.residual[s]);
  if (chunk.range.pre_process) {
    params_needed(embedding_->weight(), embedding_->weight() + 1);
    embedding_->forward(BlockCall{w, batch_, seq_, nullptr, arena_.get(scratch_), linear_, state},
                        batch.tokens, x);
  }
  for (std::int64_t i = 0; i < chunk.range.num_layers; ++i) {
    const size_t li = chunk.first + static_cast<size_t>(i);
    params_needed(layer_params_[li].first, layer_params_[li].second);
    const Arena::Slot<float>& own = chunk.saved[s][static_cast<size_t>(i)];
    float* set = (keep_activations && own.count) ? arena_.get(own) : arena_.get(shared_set_);
    const BlockCall bc{w, batch_, seq_, set, arena_.get(scratch_), linear_, state};
    layers_[li]->forward(bc, x + i * T * h, x + (i + 1) * T * h, arena_.get(tmp_));
  }
}

double PipelineStage::head(Chunk& chunk, std::int64_t slot, const MicroBatch& batch, float loss_weight, float* dres,
                           float* logits, const MicroBatchState& state) {
  const ModelConfig& c = config_;
  const std::int64_t T = local_tokens(), h = c.hidden;
  const StageWeights w = weights();
  const float* x = arena_.get(chunk.residual[static_cast<size_t>(slot)]) + chunk.range.num_layers * T * h;
  params_needed(final_norm_w_, (final_norm_b_ == kNoParam ? final_norm_w_ : final_norm_b_) + 1);
  params_needed(output_->weight(), output_->weight() + 1);  // the embedding when tied
  norm_forward(c.norm, c.norm_eps, NormParams{w.p(final_norm_w_), w.p(final_norm_b_), nullptr, nullptr}, x,
               arena_.get(final_out_), arena_.get(final_mean_), arena_.get(final_rstd_), T, h);
  const BlockCall post{w, batch_, seq_, nullptr, arena_.get(scratch_), linear_, state};
  if (!dres) {
    const double loss = output_->forward(post, arena_.get(final_out_), batch.labels, batch.loss_mask, 0.0f, nullptr, logits);
    // Training-mode forwards (tests of the objective) include the MTP losses; evaluation does not.
    if (mtp_ && state.training) run_mtp(batch, state, nullptr);
    return loss;
  }
  const double loss_sum =
      output_->forward(post, arena_.get(final_out_), batch.labels, batch.loss_mask, loss_weight, dres, nullptr);
  if (mtp_) run_mtp(batch, state, dres);
  if (!c.tied_embeddings) grads_ready(output_->weight(), output_->weight() + 1, state);
  norm_backward(c.norm, NormParams{w.p(final_norm_w_), w.p(final_norm_b_), w.g(final_norm_w_), w.g(final_norm_b_)},
                dres, x, arena_.get(final_mean_), arena_.get(final_rstd_), dres, T, h, arena_.get(norm_ws_));
  grads_ready(final_norm_w_, (final_norm_b_ == kNoParam ? final_norm_w_ : final_norm_b_) + 1, state);
  return loss_sum;
}

std::vector<PipelineStage::NamedBuffer> PipelineStage::buffers() const {
  std::vector<NamedBuffer> out;
  for (auto* r : routers_)
    if (!r->expert_bias().empty()) out.push_back(NamedBuffer{r->bias_name(), &r->expert_bias()});
  return out;
}

std::vector<double> PipelineStage::take_mtp_losses() {
  std::vector<double> out = mtp_losses_;
  std::fill(mtp_losses_.begin(), mtp_losses_.end(), 0.0);
  return out;
}

void PipelineStage::run_mtp(const MicroBatch& batch, const MicroBatchState& state, float* dh0) {
  // The MTP layers come after every other forward: whatever parameter is still on its way is needed.
  params_needed(0, static_cast<ParamId>(layout_.params().size()));
  const StageWeights w = weights();
  const BlockCall bc{w, batch_, seq_, nullptr, arena_.get(scratch_), linear_, state};
  std::vector<double>& sums = mtp_losses_;
  double loss[64], mask[64];
  if (mtp_->depth() > 64) fail("mtp_num_layers {} exceeds this engine's 64", mtp_->depth());
  const int cp = parallel_.cp_size();
  if (cp > 1 && !(batch.sequence_tokens && batch.sequence_labels && batch.sequence_loss_mask))
    fail("internal: multi-token prediction under context parallelism needs the whole sequences");
  mtp_->run(bc, MultiTokenPrediction::Buffers{arena_.get(mtp_set_), arena_.get(mtp_own_)}, *embedding_, *output_,
            cp > 1 ? batch.sequence_tokens : batch.tokens, cp > 1 ? batch.sequence_labels : batch.labels,
            cp > 1 ? batch.sequence_loss_mask : batch.loss_mask, arena_.get(final_out_), dh0, loss, mask,
            [this, &state](ParamId first, ParamId last) { grads_ready(first, last, state); });
  // Each CP rank logs its part of loss_k over the whole micro-batch's Σ mask_k, × cp: the logged
  // value is averaged over data × context ranks.
  if (state.training)
    for (std::int64_t k = 0; k < mtp_->depth(); ++k)
      sums[static_cast<size_t>(k)] += loss[k] / std::max(1.0, mask[k]) * cp;
}

float* PipelineStage::chunk_input(std::int64_t c, std::int64_t slot) {
  return arena_.get(chunks_[static_cast<size_t>(c)].residual[static_cast<size_t>(slot)]);
}

const float* PipelineStage::chunk_output(std::int64_t c, std::int64_t slot) {
  const Chunk& chunk = chunks_[static_cast<size_t>(c)];
  return arena_.get(chunk.residual[static_cast<size_t>(slot)]) + chunk.range.num_layers * local_tokens() * config_.hidden;
}

float* PipelineStage::chunk_grad(std::int64_t c, std::int64_t slot) {
  return arena_.get(chunks_[static_cast<size_t>(c)].grad[static_cast<size_t>(slot)]);
}

double PipelineStage::forward_chunk_only(std::int64_t c, std::int64_t slot, const MicroBatch& batch, float* logits,
                                         const MicroBatchState& state) {
  Chunk& chunk = chunks_[static_cast<size_t>(c)];
  forward_layers(chunk, slot, batch, /*keep_activations=*/false, state);
  return chunk.range.post_process ? head(chunk, slot, batch, 0.0f, nullptr, logits, state) : 0.0;
}

double PipelineStage::forward_chunk(std::int64_t c, std::int64_t slot, const MicroBatch& batch, float loss_weight,
                                    const MicroBatchState& state) {
  Chunk& chunk = chunks_[static_cast<size_t>(c)];
  forward_layers(chunk, slot, batch, /*keep_activations=*/true, state);
  if (!chunk.range.post_process) return 0.0;
  const double loss = head(chunk, slot, batch, loss_weight, chunk_grad(c, slot), nullptr, state);
  // The last stage's embedding copy has its whole gradient now (output layer, MTP).
  if (holds_embedding_copy() && !shares_embedding_over_pipeline())
    grads_ready(embedding_->weight(), embedding_->weight() + 1, state);
  return loss;
}

void PipelineStage::backward_chunk(std::int64_t c, std::int64_t slot, const MicroBatch& batch,
                                   const MicroBatchState& state) {
  const ModelConfig& cfg = config_;
  const std::int64_t T = local_tokens(), h = cfg.hidden;
  Chunk& chunk = chunks_[static_cast<size_t>(c)];
  const auto s = static_cast<size_t>(slot);
  const StageWeights w = weights();
  float* dres = arena_.get(chunk.grad[s]);
  const float* x = arena_.get(chunk.residual[s]);
  for (std::int64_t i = chunk.range.num_layers - 1; i >= 0; --i) {
    const float* x_in = x + i * T * h;
    const size_t li = chunk.first + static_cast<size_t>(i);
    const Arena::Slot<float>& own = chunk.saved[s][static_cast<size_t>(i)];
    float* set = arena_.get(own);
    if (!own.count) {
      // Recomputed layer: re-run its forward from the kept input.
      set = arena_.get(shared_set_);
      const BlockCall bc{w, batch_, seq_, set, arena_.get(scratch_), linear_, state};
      layers_[li]->forward(bc, x_in, arena_.get(y_scratch_), arena_.get(tmp_));
    }
    const BlockCall bc{w, batch_, seq_, set, arena_.get(scratch_), linear_, state};
    layers_[li]->backward(bc, x_in, dres, arena_.get(tmp_));
    grads_ready(layer_params_[li].first, layer_params_[li].second, state);
  }
  if (chunk.range.pre_process) {
    const BlockCall post{w, batch_, seq_, nullptr, arena_.get(scratch_), linear_, state};
    embedding_->backward(post, batch.tokens, dres);
    if (!shares_embedding_over_pipeline()) grads_ready(embedding_->weight(), embedding_->weight() + 1, state);
  }
}

void PipelineStage::finish_shared_embedding_grads(const MicroBatchState& state) {
  if (!shares_embedding_over_pipeline()) return;
  const ParamInfo& p = layout_[embedding_->weight()];
  embedding_group_->allreduce(grads() + p.offset, p.numel());
  grads_ready(embedding_->weight(), embedding_->weight() + 1, state);
}

double PipelineStage::forward_loss(const MicroBatch& batch, float* logits, const MicroBatchState& state) {
  if (chunks_.size() != 1 || !pre_process() || !post_process()) fail("internal: forward_loss on a pipeline stage");
  return forward_chunk_only(0, 0, batch, logits, state);
}

double PipelineStage::forward_backward(const MicroBatch& batch, float loss_weight, const MicroBatchState& state) {
  if (chunks_.size() != 1 || !pre_process() || !post_process()) fail("internal: forward_backward on a pipeline stage");
  const double loss = forward_chunk(0, 0, batch, loss_weight, state);
  backward_chunk(0, 0, batch, state);
  return loss;
}

}  // namespace primus::model
