#include "model/multi_token_prediction.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "kernels/elementwise.hpp"
#include "model/columns.hpp"
#include "model/norm.hpp"

namespace primus::model {

struct MultiTokenPrediction::Depth {
  ParamId enorm_w, enorm_b, hnorm_w, hnorm_b, eh_proj, final_w, final_b;
  std::unique_ptr<TransformerLayer> layer;
  // saved (offsets in the MTP set)
  std::int64_t e, e_mean, e_rstd, h_mean, h_rstd, cat, x, z, z_mean, z_rstd, out, layer_set;
};

namespace {

std::int32_t* ints(float* p) { return reinterpret_cast<std::int32_t*>(p); }

}  // namespace

MultiTokenPrediction::MultiTokenPrediction(const BuildContext& ctx, BufferPlan& saved, BufferPlan& scratch)
    : c_(ctx.config) {
  const ModelConfig& c = c_;
  const bool ln = c.norm == Norm::LayerNorm;
  // Hidden states live on the rank's tokens (its sequence shard under sequence parallelism, where
  // the norms' and the replicated eh projection's gradients are partial sums); ids, labels and
  // masks cover the whole sequence.
  const std::int64_t T = ctx.local_tokens(), T_all = ctx.tokens(), h = c.hidden;
  const bool partial = ctx.parallel.sequence_parallel && ctx.parallel.tp_size() > 1;
  sp_ = ctx.parallel.sp();
  positions_ = ctx.positions;
  global_seq_ = ctx.global_seq ? ctx.global_seq : ctx.seq;
  ParameterLayout& L = ctx.layout;
  for (std::int64_t j = 0; j < c.mtp_layers; ++j) {
    const std::string p = fmt::format("mtp.layers.{}.", j);
    auto norm = [&](const std::string& name, bool bias) {
      if (bias && !ln) return kNoParam;
      return L.add({.name = p + name + (bias ? ".bias" : ".weight"), .global_rows = h, .decay = false,
                    .init_value = bias ? 0.0f : 1.0f, .sum_grad_over_tp = partial});
    };
    auto d = std::make_unique<Depth>();
    const auto first = static_cast<ParamId>(L.params().size());
    d->enorm_w = norm("enorm", false);
    d->enorm_b = norm("enorm", true);
    d->hnorm_w = norm("hnorm", false);
    d->hnorm_b = norm("hnorm", true);
    // Replicated here (Megatron splits it by columns; the global tensor is the same).
    d->eh_proj = L.add({.name = p + "eh_proj.weight", .global_rows = h, .global_cols = 2 * h, .init_std = c.init_std,
                        .sum_grad_over_tp = partial});
    ctx.linear.need(T, 2 * h, h);
    d->layer = std::make_unique<TransformerLayer>(ctx, p + "transformer_layer.", c.mtp_layer_spec());
    d->final_w = norm("final_layernorm", false);
    d->final_b = norm("final_layernorm", true);
    params_.emplace_back(first, static_cast<ParamId>(L.params().size()));
    d->e = saved.add(T * h);
    d->e_mean = saved.add(ln ? T : 0);
    d->e_rstd = saved.add(T);
    d->h_mean = saved.add(ln ? T : 0);
    d->h_rstd = saved.add(T);
    d->cat = saved.add(T * 2 * h);
    d->x = saved.add(T * h);
    d->z = saved.add(T * h);
    d->z_mean = saved.add(ln ? T : 0);
    d->z_rstd = saved.add(T);
    d->out = saved.add(T * h);
    d->layer_set = saved.add(d->layer->saved_floats());
    layer_scratch_ = std::max(layer_scratch_, d->layer->scratch_floats());
    layers_.push_back(std::move(d));
  }
  ids_ = scratch.add(T_all);
  labels_ = scratch.add(T_all);
  mask_ = scratch.add(T_all);
  tmp_ = scratch.add(T * h);
  dcat_ = scratch.add(T * 2 * h);
  dx_ = scratch.add(T * h);
  dh_ = scratch.add(T * h);
  norm_ws_ = scratch.add(norm_workspace(h));
}

MultiTokenPrediction::~MultiTokenPrediction() = default;

std::int64_t MultiTokenPrediction::scratch_floats() const { return layer_scratch_; }

TransformerLayer& MultiTokenPrediction::layer(std::int64_t k) const { return *layers_[static_cast<size_t>(k)]->layer; }

double MultiTokenPrediction::roll(const BlockCall& call, const Buffers& buf, std::int64_t k,
                                  const std::int32_t* tokens, const std::int32_t* labels, const float* mask) const {
  std::int32_t* ids = ints(buf.own + ids_);
  std::int32_t* lab = ints(buf.own + labels_);
  float* m = buf.own + mask_;
  const std::int64_t S = call.seq, G = global_seq_;
  for (std::int64_t b = 0; b < call.batch; ++b)
    for (std::int64_t s = 0; s < S; ++s) {
      const std::int64_t p = positions_ ? positions_[s] : s, dst = b * S + s, src = b * G + p + k;
      const bool in = p + k < G;
      ids[dst] = in ? tokens[src] : 0;
      lab[dst] = in ? labels[src] : 0;
      m[dst] = in ? mask[src] : 0.0f;
    }
  double whole = 0.0;
  for (std::int64_t b = 0; b < call.batch; ++b)
    for (std::int64_t p = k; p < G; ++p) whole += mask[b * G + p];
  return whole;
}

void MultiTokenPrediction::run(const BlockCall& call, const Buffers& buf, const Embedding& embedding,
                               const OutputLayer& output, const std::int32_t* tokens, const std::int32_t* labels,
                               const float* mask, const float* h0, float* dh0, double* loss_sums, double* mask_sums,
                               const std::function<void(ParamId, ParamId)>& grads_ready) {
  const ModelConfig& c = c_;
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens() / sp_, h = c.hidden, D = depth();
  auto at = [&](std::int64_t off) { return buf.set + off; };
  auto layer_call = [&](const Depth& d) {
    return BlockCall{w, call.batch, call.seq, buf.set + d.layer_set, call.scratch, call.linear, call.state};
  };
  float* tmp = buf.own + tmp_;
  // Forward, depth by depth.
  for (std::int64_t k = 0; k < D; ++k) {
    const Depth& d = *layers_[static_cast<size_t>(k)];
    const float* h_prev = k == 0 ? h0 : at(layers_[static_cast<size_t>(k - 1)]->out);
    roll(call, buf, k + 1, tokens, labels, mask);
    float* e = at(d.e);
    float* cat = at(d.cat);
    embedding.forward(call, ints(buf.own + ids_), e);
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(d.enorm_w), w.p(d.enorm_b), nullptr, nullptr}, e, tmp,
                 at(d.e_mean), at(d.e_rstd), T, h);
    scatter_columns(tmp, h, cat, 2 * h, 0, T);
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(d.hnorm_w), w.p(d.hnorm_b), nullptr, nullptr}, h_prev, tmp,
                 at(d.h_mean), at(d.h_rstd), T, h);
    scatter_columns(tmp, h, cat, 2 * h, h, T);
    float* x = at(d.x);
    linear_forward(w.linear(d.eh_proj, kNoParam, 2 * h, h), cat, x, T, call.linear);
    d.layer->forward(layer_call(d), x, at(d.z), tmp);
    norm_forward(c.norm, c.norm_eps, NormParams{w.p(d.final_w), w.p(d.final_b), nullptr, nullptr}, at(d.z),
                 at(d.out), at(d.z_mean), at(d.z_rstd), T, h);
  }
  // Losses, and backward from the last depth to the first.
  float* dh = buf.own + dh_;     // gradient reaching h_k from depth k+1
  float* dx = buf.own + dx_;
  float* dcat = buf.own + dcat_;
  float* ws = buf.own + norm_ws_;
  const bool backward = dh0 != nullptr;
  if (backward) std::fill(dh, dh + T * h, 0.0f);
  for (std::int64_t k = D - 1; k >= 0; --k) {
    const Depth& d = *layers_[static_cast<size_t>(k)];
    const double n = roll(call, buf, k + 1, tokens, labels, mask);
    const float* m = buf.own + mask_;
    mask_sums[k] = n;
    const float weight = backward ? static_cast<float>(c.mtp_loss_scaling_factor / static_cast<double>(D) /
                                                       std::max(1.0, n) * call.state.aux_loss_scale)
                                  : 0.0f;
    loss_sums[k] = output.forward(call, at(d.out), ints(buf.own + labels_), m, weight, backward ? dx : nullptr,
                                  nullptr);
    if (!backward) continue;
    kernels::add(dx, dh, dx, T * h);  // d h_k: its loss plus depth k+1's use of it
    norm_backward(c.norm, NormParams{w.p(d.final_w), w.p(d.final_b), w.g(d.final_w), w.g(d.final_b)}, dx, at(d.z),
                  at(d.z_mean), at(d.z_rstd), dx, T, h, ws);
    d.layer->backward(layer_call(d), at(d.x), dx, tmp);
    linear_backward(w.linear(d.eh_proj, kNoParam, 2 * h, h), dx, at(d.cat), dcat, T, call.linear);
    // Embedding branch.
    gather_columns(dcat, 2 * h, 0, h, tmp, T);
    norm_backward(c.norm, NormParams{w.p(d.enorm_w), w.p(d.enorm_b), w.g(d.enorm_w), w.g(d.enorm_b)}, tmp, at(d.e),
                  at(d.e_mean), at(d.e_rstd), tmp, T, h, ws);
    embedding.backward(call, ints(buf.own + ids_), tmp);
    // Hidden branch: into the previous depth's output (or the decoder's).
    const float* h_prev = k == 0 ? h0 : at(layers_[static_cast<size_t>(k - 1)]->out);
    gather_columns(dcat, 2 * h, h, h, tmp, T);
    norm_backward(c.norm, NormParams{w.p(d.hnorm_w), w.p(d.hnorm_b), w.g(d.hnorm_w), w.g(d.hnorm_b)}, tmp, h_prev,
                  at(d.h_mean), at(d.h_rstd), tmp, T, h, ws);
    if (k == 0) kernels::add(dh0, tmp, dh0, T * h);
    else std::memcpy(dh, tmp, static_cast<size_t>(T * h) * sizeof(float));
    grads_ready(params_[static_cast<size_t>(k)].first, params_[static_cast<size_t>(k)].second);
  }
}

}  // namespace primus::model
