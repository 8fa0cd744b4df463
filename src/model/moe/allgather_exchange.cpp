#include "model/moe/allgather_exchange.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace primus::model {

namespace {

std::int32_t* ints(float* p) { return reinterpret_cast<std::int32_t*>(p); }

}  // namespace

AllGatherExchange::AllGatherExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved,
                                     BufferPlan& scratch)
    : ExpertExchange(ctx, dispatcher, saved) {
  const std::int64_t T = ctx.tokens(), h = c_.hidden, R = dispatcher.max_rows(), P = P_;
  local_token_ = saved.add(max_local_rows_);
  local_slot_ = saved.add(max_local_rows_);
  gathered_ = scratch.add(P * T * h);
  g_counts_ = scratch.add(P * E_);
  g_token_ = scratch.add(P * R);
  g_slot_ = scratch.add(P * R);
  g_prob_ = scratch.add(P * R);
  g_dprob_ = scratch.add(P * T * k_);
}

void AllGatherExchange::dispatch(const BlockCall& call, const DispatchPlan& plan, const float* x, float* local_rows) {
  const std::int64_t T = call.tokens(), h = c_.hidden, R = dispatcher_.max_rows(), E = E_, El = local_experts_,
                     K = k_, used = plan.offsets[E];
  std::int32_t* g_counts = ints(call.at_scratch(g_counts_));
  std::int32_t* g_token = ints(call.at_scratch(g_token_));
  std::int32_t* g_slot = ints(call.at_scratch(g_slot_));
  float* g_prob = call.at_scratch(g_prob_);
  float* g = call.at_scratch(gathered_);
  std::copy(plan.counts, plan.counts + E, g_counts + me_ * E);
  std::copy(plan.token_of_row, plan.token_of_row + used, g_token + me_ * R);
  std::copy(plan.slot_of_row, plan.slot_of_row + used, g_slot + me_ * R);
  std::copy(plan.prob_of_row, plan.prob_of_row + used, g_prob + me_ * R);
  std::memcpy(g + me_ * T * h, x, sizeof(float) * static_cast<size_t>(T * h));
  ep_.allgather(g_counts, E);
  ep_.allgather(g_token, R);
  ep_.allgather(g_slot, R);
  ep_.allgather(g_prob, R);
  ep_.allgather(g, T * h);
  const std::int64_t others = P_ - 1, f = static_cast<std::int64_t>(sizeof(float));
  if (call.state.training) {
    volume_.total_bytes += others * (E + 3 * R + T * h) * f;
    volume_.remote_rows += others * T;
    volume_.dispatch_hidden_bytes += others * T * h * f;
    ++volume_.forwards;
  }
  const DispatchPlan lp = local_plan(call);
  std::int32_t* l_token = ints(call.at_saved(local_token_));
  std::int32_t* l_slot = ints(call.at_saved(local_slot_));
  std::int64_t at = 0;
  for (std::int64_t le = 0; le < El; ++le) {
    const std::int64_t e = me_ * El + le;
    lp.offsets[le] = static_cast<std::int32_t>(at);
    for (int s = 0; s < P_; ++s) {
      const std::int32_t* counts = g_counts + s * E;
      std::int64_t first = 0;
      for (std::int64_t e2 = 0; e2 < e; ++e2) first += counts[e2];
      for (std::int64_t r = first; r < first + counts[e]; ++r) {
        if (at >= max_local_rows_)
          fail("internal: more rows reach this rank's experts than the planned bound {}", max_local_rows_);
        const std::int64_t token = s * T + g_token[s * R + r], slot = g_slot[s * R + r];
        std::memcpy(local_rows + at * h, g + token * h, sizeof(float) * static_cast<size_t>(h));
        lp.prob_of_row[at] = g_prob[s * R + r];
        l_token[at] = static_cast<std::int32_t>(token);
        l_slot[at] = slot >= 0 ? static_cast<std::int32_t>(s * T * K + slot) : -1;
        ++at;
      }
    }
    lp.counts[le] = static_cast<std::int32_t>(at - lp.offsets[le]);
  }
  lp.offsets[El] = static_cast<std::int32_t>(at);
}

void AllGatherExchange::scatter_reduce(const BlockCall& call, const float* rows, float* out) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  const DispatchPlan lp = local_plan(call);
  const std::int32_t* l_token = ints(call.at_saved(local_token_));
  float* g = call.at_scratch(gathered_);
  std::fill(g, g + P_ * T * h, 0.0f);
  const std::int64_t n = lp.offsets[local_experts_];
  for (std::int64_t r = 0; r < n; ++r) {  // row order: deterministic
    float* dst = g + static_cast<std::int64_t>(l_token[r]) * h;
    const float* src = rows + r * h;
#pragma omp simd
    for (std::int64_t c = 0; c < h; ++c) dst[c] += src[c];
  }
  ep_.reduce_scatter(g, T * h);
  if (call.state.training) volume_.total_bytes += (P_ - 1) * T * h * static_cast<std::int64_t>(sizeof(float));
  std::memcpy(out, g, sizeof(float) * static_cast<size_t>(T * h));
}

void AllGatherExchange::combine(const BlockCall& call, const DispatchPlan&, const float* local_out, float* y) {
  scatter_reduce(call, local_out, y);
}

void AllGatherExchange::combine_backward(const BlockCall& call, const DispatchPlan&, const float* dy,
                                         float* dlocal_out) {
  const std::int64_t T = call.tokens(), h = c_.hidden;
  const DispatchPlan lp = local_plan(call);
  const std::int32_t* l_token = ints(call.at_saved(local_token_));
  float* g = call.at_scratch(gathered_);
  std::memcpy(g + me_ * T * h, dy, sizeof(float) * static_cast<size_t>(T * h));
  ep_.allgather(g, T * h);
  if (call.state.training) volume_.total_bytes += (P_ - 1) * T * h * static_cast<std::int64_t>(sizeof(float));
  const std::int64_t n = lp.offsets[local_experts_];
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < n; ++r)
    std::memcpy(dlocal_out + r * h, g + static_cast<std::int64_t>(l_token[r]) * h, sizeof(float) * static_cast<size_t>(h));
}

void AllGatherExchange::dispatch_backward(const BlockCall& call, const DispatchPlan&, const float* dlocal_rows,
                                          const float* dprob_local, float* dx, float* dprobs) {
  const std::int64_t TK = call.tokens() * k_;
  scatter_reduce(call, dlocal_rows, dx);
  const DispatchPlan lp = local_plan(call);
  const std::int32_t* l_slot = ints(call.at_saved(local_slot_));
  float* dg = call.at_scratch(g_dprob_);
  std::fill(dg, dg + P_ * TK, 0.0f);
  const std::int64_t n = lp.offsets[local_experts_];
  for (std::int64_t r = 0; r < n; ++r)
    if (l_slot[r] >= 0) dg[l_slot[r]] = dprob_local[r];
  ep_.reduce_scatter(dg, TK);
  if (call.state.training) volume_.total_bytes += (P_ - 1) * TK * static_cast<std::int64_t>(sizeof(float));
  std::memcpy(dprobs, dg, sizeof(float) * static_cast<size_t>(TK));
}

}  // namespace primus::model
