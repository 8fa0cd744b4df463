#include "model/moe/router.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "kernels/router.hpp"

namespace primus::model {

namespace {

constexpr std::int64_t kMaxExperts = 1024;

kernels::RouterConfig router_config(const MoeConfig& m) {
  kernels::RouterConfig r;
  r.experts = m.experts;
  r.topk = m.topk;
  r.score = m.sigmoid ? kernels::RouterScore::Sigmoid : kernels::RouterScore::Softmax;
  r.pre_softmax = m.pre_softmax;
  r.scaling_factor = m.topk_scaling_factor;
  r.num_groups = m.num_groups;
  r.group_topk = m.group_topk;
  return r;
}

// Plain top-k of s[0:n] into idx (descending, ties to the lower index).
void plain_topk(const float* s, std::int64_t n, std::int64_t k, std::int32_t* idx) {
  for (std::int64_t j = 0; j < k; ++j) {
    std::int64_t best = -1;
    for (std::int64_t e = 0; e < n; ++e) {
      bool taken = false;
      for (std::int64_t t = 0; t < j; ++t) taken |= idx[t] == e;
      if (!taken && (best < 0 || s[e] > s[best])) best = e;
    }
    idx[j] = static_cast<std::int32_t>(best);
  }
}

double logsumexp(const float* x, std::int64_t n) {
  double m = x[0];
  for (std::int64_t i = 1; i < n; ++i) m = std::max<double>(m, x[i]);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  return m + std::log(sum);
}

}  // namespace

TopKRouter::TopKRouter(const BuildContext& ctx, const std::string& prefix, BufferPlan& saved, BufferPlan& scratch)
    : c_(ctx.config), m_(ctx.config.moe), mp_(ctx.parallel), E_(ctx.config.moe.experts), k_(ctx.config.moe.topk) {
  if (E_ > kMaxExperts) fail("num_experts {} exceeds this engine's {}", E_, kMaxExperts);
  (void)router_config(m_);
  const std::int64_t T = ctx.tokens(), h = c_.hidden, B = ctx.batch;
  // Replicated; under sequence parallelism each rank routes its own tokens, so its gradient is partial.
  weight_ = ctx.layout.add({.name = prefix + "weight", .global_rows = E_, .global_cols = h, .init_std = c_.init_std,
                            .sum_grad_over_tp = ctx.parallel.tp_size() > 1});
  if (m_.expert_bias) {
    bias_name_ = prefix + "expert_bias";
    bias_.assign(static_cast<size_t>(E_), 0.0f);
  }
  step_counts_.assign(static_cast<size_t>(E_), 0.0);
  global_counts_.assign(static_cast<size_t>(E_), 0.0);
  ctx.linear.need(T, h, E_);
  logits_ = saved.add(T * E_);
  indices_ = saved.add(T * k_);  // int32 in float-sized slots
  probs_ = saved.add(T * k_);
  aux_counts_ = saved.add(E_ + B * E_ + E_);  // N for aux, per-sequence N, averaged global N
  aux_scores_ = scratch.add(T * E_);
  dlogits_ = scratch.add(T * E_ + T * h);     // dlogits, then the input gradient
  aux_idx_ = scratch.add(T * k_);
}

const std::int32_t* TopKRouter::indices(const BlockCall& call) const {
  return reinterpret_cast<const std::int32_t*>(call.at_saved(indices_));
}
const float* TopKRouter::probs(const BlockCall& call) const { return call.at_saved(probs_); }

void TopKRouter::aux_scores(const float* logits, float* s, std::int64_t T) const {
  const std::int64_t E = E_;
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < T; ++t) {
    const float* z = logits + t * E;
    float* out = s + t * E;
    if (m_.sigmoid) {
      float sum = 0.0f;
      for (std::int64_t e = 0; e < E; ++e) sum += out[e] = 1.0f / (1.0f + std::exp(-z[e]));
      for (std::int64_t e = 0; e < E; ++e) out[e] /= sum + 1e-20f;
    } else {
      float mx = z[0];
      for (std::int64_t e = 1; e < E; ++e) mx = std::max(mx, z[e]);
      float sum = 0.0f;
      for (std::int64_t e = 0; e < E; ++e) sum += out[e] = std::exp(z[e] - mx);
      for (std::int64_t e = 0; e < E; ++e) out[e] /= sum;
    }
  }
}

void TopKRouter::forward(const BlockCall& call, const float* x) {
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), E = E_, K = k_, B = call.batch, S = call.seq, h = c_.hidden;
  float* logits = call.at_saved(logits_);
  // Megatron runs the router GEMM in the model's precision unless moe_router_dtype is fp32.
  LinearWeights lw = w.linear(weight_, kNoParam, h, E);
  if (m_.router_fp32) lw.w_bf16 = nullptr;
  linear_forward(lw, x, logits, T, call.linear);
  auto* idx = reinterpret_cast<std::int32_t*>(call.at_saved(indices_));
  kernels::router_topk_forward(router_config(m_), logits, call.at_saved(probs_), idx, T,
                               bias_.empty() ? nullptr : bias_.data());
  if (!call.state.training) return;

  // Auxiliary losses (values for the log; their gradients are added in backward).
  if (m_.z_loss_coeff > 0.0f) {
    double sum = 0.0;
    for (std::int64_t t = 0; t < T; ++t) {
      const double l = logsumexp(logits + t * E, E);
      sum += l * l;
    }
    metrics_.z_loss += sum / static_cast<double>(T);  // z / coeff
  }
  if (m_.balancing.empty()) return;
  float* s = call.at_scratch(aux_scores_);
  auto* map = reinterpret_cast<std::int32_t*>(call.at_scratch(aux_idx_));
  aux_scores(logits, s, T);
  for (std::int64_t t = 0; t < T; ++t) plain_topk(s + t * E, E, K, map + t * K);
  float* n_all = call.at_saved(aux_counts_);
  float* n_seq = n_all + E;
  float* n_glob = n_seq + B * E;
  std::fill(n_all, n_all + E + B * E + E, 0.0f);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t j = 0; j < K; ++j) {
      const std::int32_t e = map[t * K + j];
      n_all[e] += 1.0f;
      n_seq[(t / S) * E + e] += 1.0f;  // rows are (b, s)
    }
  bool global = false;
  for (const auto& bal : m_.balancing) global |= bal.first == LoadBalancing::GlobalAux;
  if (global) {
    std::copy(n_all, n_all + E, n_glob);
    mp_.tp_dp_cp_group().allreduce(n_glob, E);
    for (std::int64_t e = 0; e < E; ++e) global_counts_[static_cast<size_t>(e)] += n_glob[e];
    ++global_steps_;
    for (std::int64_t e = 0; e < E; ++e)
      n_glob[e] = static_cast<float>(global_counts_[static_cast<size_t>(e)] / static_cast<double>(global_steps_));
  }
  mp_.tp_cp_group().allreduce(n_all, E + B * E);  // the group's counts (aux and per sequence)
  // Values of the losses divided by their coefficient (what Megatron logs).
  std::vector<double> P(static_cast<size_t>(B * E), 0.0);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t e = 0; e < E; ++e) P[static_cast<size_t>((t / S) * E + e)] += s[t * E + e];
  for (const auto& [kind, coeff] : m_.balancing) {
    if (coeff == 0.0f) continue;  // Megatron tracks nothing for a zero coefficient (logs 0)
    double v = 0.0;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t e = 0; e < E; ++e)
        v += P[static_cast<size_t>(b * E + e)] * (kind == LoadBalancing::SeqAux ? n_seq[b * E + e]
                                                  : kind == LoadBalancing::Aux  ? n_all[e]
                                                                                : n_glob[e]);
    metrics_.balancing[static_cast<size_t>(kind)] += v * loss_factor(kind, T, S, B);
  }
}

void TopKRouter::backward(const BlockCall& call, const float* x, const float* dprobs, float* dx) {
  const StageWeights& w = call.w;
  const std::int64_t T = call.tokens(), E = E_, B = call.batch, S = call.seq, h = c_.hidden;
  const float* logits = call.at_saved(logits_);
  float* dlogits = call.at_scratch(dlogits_);
  kernels::router_topk_backward(router_config(m_), logits, indices(call), dprobs, dlogits, T);
  const float scale = call.state.aux_loss_scale;
  if (call.state.training && !m_.balancing.empty()) {
    float* s = call.at_scratch(aux_scores_);
    aux_scores(logits, s, T);
    const float* n_all = call.at_saved(aux_counts_);
    const float* n_seq = n_all + E;
    const float* n_glob = n_seq + B * E;
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      // g_e = d(Σ losses)/d s[t, e] = Σ_kinds coeff · factor · N_e.
      float g[kMaxExperts] = {};
      for (const auto& [kind, coeff] : m_.balancing) {
        if (coeff == 0.0f) continue;
        const float* n = kind == LoadBalancing::Aux ? n_all : kind == LoadBalancing::GlobalAux ? n_glob
                                                                                                 : n_seq + (t / S) * E;
        const auto cf = static_cast<float>(coeff * loss_factor(kind, T, S, B) * scale);
        for (std::int64_t e = 0; e < E; ++e) g[e] += cf * n[e];
      }
      const float* st = s + t * E;
      const float* z = logits + t * E;
      float* d = dlogits + t * E;
      float dot = 0.0f;
      for (std::int64_t e = 0; e < E; ++e) dot += st[e] * g[e];
      if (m_.sigmoid) {
        // s = σ / (Σσ + 1e-20): dσ_e = (g_e − Σ_j g_j s_j) / Z;  dz = dσ · σ(1 − σ).
        float sum = 0.0f, sig[kMaxExperts];
        for (std::int64_t e = 0; e < E; ++e) sum += sig[e] = 1.0f / (1.0f + std::exp(-z[e]));
        const float inv = 1.0f / (sum + 1e-20f);
        for (std::int64_t e = 0; e < E; ++e) d[e] += (g[e] - dot) * inv * sig[e] * (1.0f - sig[e]);
      } else {
        for (std::int64_t e = 0; e < E; ++e) d[e] += st[e] * (g[e] - dot);
      }
    }
  }
  if (call.state.training && m_.z_loss_coeff > 0.0f) {
    // Megatron divides the coefficient by the tensor × context size (each rank: its tokens' mean).
    const float cf = m_.z_loss_coeff / static_cast<float>(mp_.tp_cp_group().size()) * scale * 2.0f /
                     static_cast<float>(T);
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      const float* z = logits + t * E;
      const auto lse = static_cast<float>(logsumexp(z, E));
      float* d = dlogits + t * E;
      for (std::int64_t e = 0; e < E; ++e) d[e] += cf * lse * std::exp(z[e] - lse);
    }
  }
  float* dx_router = dlogits + T * E;
  LinearWeights lw = w.linear(weight_, kNoParam, h, E);
  if (m_.router_fp32) lw.w_bf16 = nullptr;
  linear_backward(lw, dlogits, x, dx_router, T, call.linear);
  const std::int64_t n = T * h;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) dx[i] += dx_router[i];
}

double TopKRouter::loss_factor(LoadBalancing kind, std::int64_t T, std::int64_t S, std::int64_t B) const {
  // switch(P, N, T') = E / (k · T'²) · Σ P·N with T' the group's tokens; seq: per sequence of the
  // group's length, averaged over the b sequences.
  const double E = static_cast<double>(E_), K = static_cast<double>(k_);
  if (kind == LoadBalancing::SeqAux) {
    const double s = static_cast<double>(S * mp_.tp_cp_group().size());
    return E / (K * s * s) / static_cast<double>(B);
  }
  const double t = static_cast<double>(T * (kind == LoadBalancing::Aux ? mp_.tp_cp_group().size()
                                                                        : mp_.tp_dp_cp_group().size()));
  return E / (K * t * t);
}

void TopKRouter::count_routed(const std::int32_t* per_expert) {
  for (std::int64_t e = 0; e < E_; ++e) step_counts_[static_cast<size_t>(e)] += per_expert[e];
}

void TopKRouter::update_expert_bias(const std::vector<double>& counts) {
  if (bias_.empty()) return;
  double mean = 0.0;
  for (double c : counts) mean += c;
  mean /= static_cast<double>(E_);
  for (std::int64_t e = 0; e < E_; ++e) {
    const double diff = mean - counts[static_cast<size_t>(e)];
    const float sign = diff > 0.0 ? 1.0f : diff < 0.0 ? -1.0f : 0.0f;
    bias_[static_cast<size_t>(e)] += m_.bias_update_rate * sign;
  }
}

void TopKRouter::end_step() {
  std::fill(step_counts_.begin(), step_counts_.end(), 0.0);
  std::fill(global_counts_.begin(), global_counts_.end(), 0.0);
  global_steps_ = 0;
}

}  // namespace primus::model
