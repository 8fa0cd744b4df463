#include "model/moe/expert_tensor_parallel.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace primus::model {

namespace {

int as_count(std::int64_t n) {
  if (n < 0 || n > std::numeric_limits<int>::max())
    fail("expert tensor parallelism: {} elements exceed MPI's int count; use a smaller micro-batch", n);
  return static_cast<int>(n);
}

std::int32_t* ints(float* p) { return reinterpret_cast<std::int32_t*>(p); }

}  // namespace

ExpertTensorParallel::ExpertTensorParallel(const BuildContext& ctx, std::int64_t local_experts,
                                           std::int64_t max_rows_in, BufferPlan& saved, BufferPlan& scratch)
    : c_(ctx.config),
      etp_(ctx.parallel.expert_tp_group()),
      Q_(ctx.parallel.expert_tp_size()),
      me_(ctx.parallel.expert_tp_rank()),
      El_(local_experts),
      max_in_(max_rows_in),
      max_rows_(static_cast<std::int64_t>(ctx.parallel.expert_tp_size()) * max_rows_in) {
  const std::int64_t h = c_.hidden;
  counts_ = saved.add(Q_ * El_);
  plan_counts_ = saved.add(El_);
  plan_offsets_ = saved.add(El_ + 1);
  plan_prob_ = saved.add(max_rows_);
  src_ = scratch.add(max_rows_ * h);
  src_prob_ = scratch.add(max_rows_);
  sums_ = scratch.add(max_rows_ * h);
  const auto Q = static_cast<size_t>(Q_), C = Q * static_cast<size_t>(El_);
  first_.resize(Q);
  rows_.resize(Q);
  chunk_src_.resize(C);
  chunk_exp_.resize(C);
  chunk_n_.resize(C);
  sc_.resize(Q);
  so_.resize(Q);
  rc_.resize(Q);
  ro_.resize(Q);
}

DispatchPlan ExpertTensorParallel::plan(const BlockCall& call) const {
  DispatchPlan p{};
  p.counts = ints(call.at_saved(plan_counts_));
  p.offsets = ints(call.at_saved(plan_offsets_));
  p.prob_of_row = call.at_saved(plan_prob_);
  return p;
}

void ExpertTensorParallel::layout(const BlockCall& call) {
  const std::int32_t* n = ints(call.at_saved(counts_));
  std::int64_t at = 0;
  for (int q = 0; q < Q_; ++q) {
    const auto j = static_cast<size_t>(q);
    first_[j] = at;
    std::int64_t rows = 0;
    for (std::int64_t le = 0; le < El_; ++le) {
      const size_t c = j * static_cast<size_t>(El_) + static_cast<size_t>(le);
      chunk_src_[c] = at + rows;
      chunk_n_[c] = n[q * El_ + le];
      rows += n[q * El_ + le];
    }
    rows_[j] = rows;
    at += rows;
  }
  if (at > max_rows_) fail("internal: {} rows gathered over expert tensor parallelism, bound {}", at, max_rows_);
  std::int64_t e_at = 0;
  for (std::int64_t le = 0; le < El_; ++le)
    for (int q = 0; q < Q_; ++q) {
      const size_t c = static_cast<size_t>(q) * static_cast<size_t>(El_) + static_cast<size_t>(le);
      chunk_exp_[c] = e_at;
      e_at += chunk_n_[c];
    }
}

void ExpertTensorParallel::allgather_rows(const float* in, float* out, std::int64_t w, std::int64_t n_in, float* src) {
  for (size_t q = 0; q < static_cast<size_t>(Q_); ++q) {
    sc_[q] = as_count(n_in * w);
    so_[q] = 0;
    rc_[q] = as_count(rows_[q] * w);
    ro_[q] = as_count(first_[q] * w);
  }
  etp_.alltoallv(in, sc_, so_, src, rc_, ro_);
  for (size_t c = 0; c < chunk_n_.size(); ++c)
    if (chunk_n_[c] > 0)
      std::memcpy(out + chunk_exp_[c] * w, src + chunk_src_[c] * w, sizeof(float) * static_cast<size_t>(chunk_n_[c] * w));
}

void ExpertTensorParallel::reduce_scatter_rows(const BlockCall& call, const float* in, float* out, std::int64_t w) {
  float* src = call.at_scratch(src_);
  float* sums = call.at_scratch(sums_);
  for (size_t c = 0; c < chunk_n_.size(); ++c)
    if (chunk_n_[c] > 0)
      std::memcpy(src + chunk_src_[c] * w, in + chunk_exp_[c] * w, sizeof(float) * static_cast<size_t>(chunk_n_[c] * w));
  const std::int64_t n_in = rows_[static_cast<size_t>(me_)];
  for (size_t q = 0; q < static_cast<size_t>(Q_); ++q) {
    sc_[q] = as_count(rows_[q] * w);
    so_[q] = as_count(first_[q] * w);
    rc_[q] = as_count(n_in * w);
    ro_[q] = as_count(static_cast<std::int64_t>(q) * n_in * w);
  }
  etp_.alltoallv(src, sc_, so_, sums, rc_, ro_);
  const std::int64_t n = n_in * w;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    float s = 0.0f;
    for (int q = 0; q < Q_; ++q) s += sums[q * n + i];  // group-rank order: deterministic
    out[i] = s;
  }
}

void ExpertTensorParallel::gather(const BlockCall& call, const DispatchPlan& in, const float* rows, float* gathered) {
  std::int32_t* n = ints(call.at_saved(counts_));
  std::copy(in.counts, in.counts + El_, n + me_ * El_);
  etp_.allgather(n, El_);
  layout(call);
  const std::int64_t n_in = in.offsets[El_], h = c_.hidden;
  if (n_in > max_in_) fail("internal: {} rows for expert tensor parallelism, bound {}", n_in, max_in_);
  const DispatchPlan p = plan(call);
  allgather_rows(rows, gathered, h, n_in, call.at_scratch(src_));
  allgather_rows(in.prob_of_row, p.prob_of_row, 1, n_in, call.at_scratch(src_prob_));
  std::int64_t at = 0;
  for (std::int64_t le = 0; le < El_; ++le) {
    std::int64_t rows_e = 0;
    for (int q = 0; q < Q_; ++q) rows_e += n[q * El_ + le];
    p.offsets[le] = static_cast<std::int32_t>(at);
    p.counts[le] = static_cast<std::int32_t>(rows_e);
    at += rows_e;
  }
  p.offsets[El_] = static_cast<std::int32_t>(at);
}

void ExpertTensorParallel::reduce_scatter(const BlockCall& call, const float* partial, float* out) {
  layout(call);
  reduce_scatter_rows(call, partial, out, c_.hidden);
}

void ExpertTensorParallel::gather_grad(const BlockCall& call, const float* dout, float* gathered) {
  layout(call);
  allgather_rows(dout, gathered, c_.hidden, rows_[static_cast<size_t>(me_)], call.at_scratch(src_));
}

void ExpertTensorParallel::reduce_scatter_grad(const BlockCall& call, const float* drows, const float* dprob,
                                               float* drows_in, float* dprob_in) {
  layout(call);
  reduce_scatter_rows(call, drows, drows_in, c_.hidden);
  reduce_scatter_rows(call, dprob, dprob_in, 1);
}

}  // namespace primus::model
