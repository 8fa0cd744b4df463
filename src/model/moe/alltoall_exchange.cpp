#include "model/moe/alltoall_exchange.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace primus::model {

namespace {

int as_count(std::int64_t n) {
  if (n < 0 || n > std::numeric_limits<int>::max())
    fail("expert-parallel all-to-all: {} elements exceed MPI's int count; use a smaller micro-batch", n);
  return static_cast<int>(n);
}

}  // namespace

AllToAllExchange::AllToAllExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved,
                                   BufferPlan& scratch)
    : ExpertExchange(ctx, dispatcher, saved) {
  const std::int64_t h = c_.hidden, R = dispatcher.max_rows(), Rl = max_local_rows_;
  recv_counts_ = saved.add(P_ * local_experts_);
  rows_ = scratch.add(R * h);
  rows_prob_ = scratch.add(R);
  src_rows_ = scratch.add(Rl * h);
  src_prob_ = scratch.add(Rl);
  const auto P = static_cast<size_t>(P_);
  send_rows_.resize(P);
  send_first_.resize(P);
  recv_rows_.resize(P);
  recv_first_.resize(P);
  chunk_src_.resize(P * static_cast<size_t>(local_experts_));
  chunk_exp_.resize(P * static_cast<size_t>(local_experts_));
  chunk_n_.resize(P * static_cast<size_t>(local_experts_));
  counts_.resize(P);
  offsets_.resize(P);
  rcounts_.resize(P);
  roffsets_.resize(P);
}

void AllToAllExchange::layout(const BlockCall& call, const DispatchPlan& plan) {
  const std::int64_t El = local_experts_;
  const auto* rc = reinterpret_cast<const std::int32_t*>(call.at_saved(recv_counts_));
  std::int64_t at = 0;
  for (int s = 0; s < P_; ++s) {
    const auto j = static_cast<size_t>(s);
    send_first_[j] = plan.offsets[s * El];
    send_rows_[j] = plan.offsets[(s + 1) * El] - plan.offsets[s * El];
    recv_first_[j] = at;
    std::int64_t n = 0;
    for (std::int64_t le = 0; le < El; ++le) {
      chunk_src_[j * static_cast<size_t>(El) + static_cast<size_t>(le)] = at + n;
      chunk_n_[j * static_cast<size_t>(El) + static_cast<size_t>(le)] = rc[s * El + le];
      n += rc[s * El + le];
    }
    recv_rows_[j] = n;
    at += n;
  }
  if (at > max_local_rows_)
    fail("internal: {} rows reach this rank's experts, more than the planned bound {}", at, max_local_rows_);
  std::int64_t e_at = 0;
  for (std::int64_t le = 0; le < El; ++le)
    for (int s = 0; s < P_; ++s) {
      chunk_exp_[static_cast<size_t>(s) * static_cast<size_t>(El) + static_cast<size_t>(le)] = e_at;
      e_at += rc[s * El + le];
    }
}

void AllToAllExchange::to_owners(const float* send, float* recv, std::int64_t w, bool count) {
  for (size_t j = 0; j < static_cast<size_t>(P_); ++j) {
    counts_[j] = as_count(send_rows_[j] * w);
    offsets_[j] = as_count(send_first_[j] * w);
    rcounts_[j] = as_count(recv_rows_[j] * w);
    roffsets_[j] = as_count(recv_first_[j] * w);
  }
  ep_.alltoallv(send, counts_, offsets_, recv, rcounts_, roffsets_);
  if (count) volume_.total_bytes += sent_bytes(w, true);
}

void AllToAllExchange::to_sources(const float* send, float* recv, std::int64_t w, bool count) {
  for (size_t j = 0; j < static_cast<size_t>(P_); ++j) {
    counts_[j] = as_count(recv_rows_[j] * w);
    offsets_[j] = as_count(recv_first_[j] * w);
    rcounts_[j] = as_count(send_rows_[j] * w);
    roffsets_[j] = as_count(send_first_[j] * w);
  }
  ep_.alltoallv(send, counts_, offsets_, recv, rcounts_, roffsets_);
  if (count) volume_.total_bytes += sent_bytes(w, false);
}

std::int64_t AllToAllExchange::sent_bytes(std::int64_t w, bool owners) const {
  std::int64_t rows = 0;
  for (int j = 0; j < P_; ++j)
    if (j != me_) rows += owners ? send_rows_[static_cast<size_t>(j)] : recv_rows_[static_cast<size_t>(j)];
  return rows * w * static_cast<std::int64_t>(sizeof(float));
}

void AllToAllExchange::source_to_expert_major(const float* in, float* out, std::int64_t w) const {
  for (size_t c = 0; c < chunk_n_.size(); ++c)
    if (chunk_n_[c] > 0)
      std::memcpy(out + chunk_exp_[c] * w, in + chunk_src_[c] * w, sizeof(float) * static_cast<size_t>(chunk_n_[c] * w));
}

void AllToAllExchange::expert_to_source_major(const float* in, float* out, std::int64_t w) const {
  for (size_t c = 0; c < chunk_n_.size(); ++c)
    if (chunk_n_[c] > 0)
      std::memcpy(out + chunk_src_[c] * w, in + chunk_exp_[c] * w, sizeof(float) * static_cast<size_t>(chunk_n_[c] * w));
}

void AllToAllExchange::dispatch(const BlockCall& call, const DispatchPlan& plan, const float* x, float* local_rows) {
  const std::int64_t El = local_experts_, h = c_.hidden;
  // 1. Counts: source s sends its counts of rank j's experts to j.
  auto* rc = reinterpret_cast<std::int32_t*>(call.at_saved(recv_counts_));
  for (size_t j = 0; j < static_cast<size_t>(P_); ++j) {
    counts_[j] = rcounts_[j] = static_cast<int>(El);
    offsets_[j] = roffsets_[j] = static_cast<int>(static_cast<std::int64_t>(j) * El);
  }
  ep_.alltoallv(plan.counts, counts_, offsets_, rc, rcounts_, roffsets_);
  if (call.state.training) volume_.total_bytes += (P_ - 1) * El * static_cast<std::int64_t>(sizeof(std::int32_t));
  layout(call, plan);
  // 2. Rows and probabilities to the owners.
  float* rows = call.at_scratch(rows_);
  dispatcher_.permute(call, x, rows);
  float* src = call.at_scratch(src_rows_);
  float* src_prob = call.at_scratch(src_prob_);
  to_owners(rows, src, h, call.state.training);
  to_owners(plan.prob_of_row, src_prob, 1, call.state.training);
  if (call.state.training) {
    const std::int64_t remote = sent_bytes(1, true) / static_cast<std::int64_t>(sizeof(float));
    volume_.remote_rows += remote;
    volume_.dispatch_hidden_bytes += remote * h * static_cast<std::int64_t>(sizeof(float));
    ++volume_.forwards;
  }
  // 3. Expert-major for the local experts.
  const DispatchPlan lp = local_plan(call);
  std::int64_t at = 0;
  for (std::int64_t le = 0; le < El; ++le) {
    std::int64_t n = 0;
    for (int s = 0; s < P_; ++s) n += rc[s * El + le];
    lp.offsets[le] = static_cast<std::int32_t>(at);
    lp.counts[le] = static_cast<std::int32_t>(n);
    at += n;
  }
  lp.offsets[El] = static_cast<std::int32_t>(at);
  source_to_expert_major(src, local_rows, h);
  source_to_expert_major(src_prob, lp.prob_of_row, 1);
}

void AllToAllExchange::combine(const BlockCall& call, const DispatchPlan& plan, const float* local_out, float* y) {
  layout(call, plan);
  float* src = call.at_scratch(src_rows_);
  float* rows = call.at_scratch(rows_);
  expert_to_source_major(local_out, src, c_.hidden);
  to_sources(src, rows, c_.hidden, call.state.training);
  dispatcher_.unpermute(call, rows, y);
}

void AllToAllExchange::combine_backward(const BlockCall& call, const DispatchPlan& plan, const float* dy,
                                        float* dlocal_out) {
  layout(call, plan);
  float* rows = call.at_scratch(rows_);
  float* src = call.at_scratch(src_rows_);
  dispatcher_.unpermute_backward(call, dy, rows);
  to_owners(rows, src, c_.hidden, call.state.training);
  source_to_expert_major(src, dlocal_out, c_.hidden);
}

void AllToAllExchange::dispatch_backward(const BlockCall& call, const DispatchPlan& plan, const float* dlocal_rows,
                                         const float* dprob_local, float* dx, float* dprobs) {
  layout(call, plan);
  const std::int64_t h = c_.hidden, TK = call.tokens() * k_;
  float* src = call.at_scratch(src_rows_);
  float* src_prob = call.at_scratch(src_prob_);
  float* rows = call.at_scratch(rows_);
  float* rows_prob = call.at_scratch(rows_prob_);
  expert_to_source_major(dlocal_rows, src, h);
  expert_to_source_major(dprob_local, src_prob, 1);
  to_sources(src, rows, h, call.state.training);
  to_sources(src_prob, rows_prob, 1, call.state.training);
  dispatcher_.permute_backward(call, rows, dx);
  for (std::int64_t i = 0; i < TK; ++i) dprobs[i] = plan.row_of_slot[i] >= 0 ? rows_prob[plan.row_of_slot[i]] : 0.0f;
}

}  // namespace primus::model
