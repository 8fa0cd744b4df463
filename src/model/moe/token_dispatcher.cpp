#include "model/moe/token_dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace primus::model {

namespace {

std::int32_t* ints(float* p) { return reinterpret_cast<std::int32_t*>(p); }

}  // namespace

TokenDispatcher::TokenDispatcher(const BuildContext& ctx, BufferPlan& saved)
    : c_(ctx.config), E_(ctx.config.moe.experts), k_(ctx.config.moe.topk) {
  const MoeConfig& m = c_.moe;
  const std::int64_t T = ctx.tokens();
  cap_ = -1;
  if (m.capacity_factor >= 0.0f) {
    cap_ = static_cast<std::int64_t>(std::ceil(static_cast<double>(T * k_) / static_cast<double>(E_) * m.capacity_factor));
    cap_ = std::min(cap_, T);
  }
  max_rows_ = T * k_;
  if (cap_ >= 0 && m.pad_to_capacity) max_rows_ = std::max(max_rows_, E_ * cap_);
  counts_ = saved.add(E_);
  offsets_ = saved.add(E_ + 1);
  token_of_row_ = saved.add(max_rows_);
  slot_of_row_ = saved.add(max_rows_);
  prob_of_row_ = saved.add(max_rows_);
  row_of_slot_ = saved.add(T * k_);
  token_begin_ = saved.add(T + 1);
  token_rows_ = saved.add(std::max(max_rows_, T * k_));
  starts_ = saved.add(E_ + 1);
}

DispatchPlan TokenDispatcher::view(const BlockCall& call) const {
  return DispatchPlan{ints(call.at_saved(counts_)),      ints(call.at_saved(offsets_)),
                      ints(call.at_saved(token_of_row_)), ints(call.at_saved(slot_of_row_)),
                      call.at_saved(prob_of_row_),        ints(call.at_saved(row_of_slot_)),
                      ints(call.at_saved(token_begin_)),  ints(call.at_saved(token_rows_))};
}

std::int64_t TokenDispatcher::plan(const BlockCall& call, const std::int32_t* indices, const float* probs) const {
  const MoeConfig& m = c_.moe;
  const std::int64_t T = call.tokens(), E = E_, K = k_;
  DispatchPlan p = view(call);
  // Counting sort of the routed slots by expert (token order within an expert); the token_rows
  // and token_begin arrays serve as scratch until the end.
  std::int32_t* by_expert = p.token_rows;   // [T·k] slots grouped by expert
  std::int32_t* start = ints(call.at_saved(starts_));  // [E + 1]
  std::fill(start, start + E + 1, 0);
  for (std::int64_t i = 0; i < T * K; ++i) {
    const std::int32_t e = indices[i];
    if (e < 0 || e >= E) fail("internal: expert index {} outside [0, {})", e, E);
    ++start[e + 1];
  }
  for (std::int64_t e = 0; e < E; ++e) start[e + 1] += start[e];
  for (std::int64_t e = 0; e < E; ++e) p.counts[e] = start[e];  // fill cursors
  for (std::int64_t i = 0; i < T * K; ++i) by_expert[p.counts[indices[i]]++] = static_cast<std::int32_t>(i);
  for (std::int64_t e = 0; e <= E; ++e) p.offsets[e] = start[e];  // keep the groups' bounds

  std::int64_t row = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    std::int32_t* list = by_expert + p.offsets[e];
    std::int64_t n = p.offsets[e + 1] - p.offsets[e];
    if (cap_ >= 0 && n > cap_) {
      // Megatron orders tokens position-major ([s, b] flattened): "earliest" and ties follow that.
      const std::int64_t S = call.seq, B = call.batch;
      auto megatron_order = [&](std::int32_t slot) { return (slot / K % S) * B + slot / K / S; };
      std::sort(list, list + n, [&](std::int32_t a, std::int32_t b) { return megatron_order(a) < megatron_order(b); });
      if (!m.drop_by_position)  // the cap highest probabilities (ties: the earlier token)
        std::stable_sort(list, list + n, [&](std::int32_t a, std::int32_t b) { return probs[a] > probs[b]; });
      std::sort(list, list + cap_);  // kept rows back in token order
      n = cap_;
    }
    // Rows of an expert are in token order. Padding (only when fewer than cap tokens were routed,
    // so nothing was dropped) takes the lowest tokens not routed to e, with probability 0.
    const std::int64_t pads = (cap_ >= 0 && m.pad_to_capacity) ? cap_ - n : 0;
    const std::int64_t first = row;
    auto take_slot = [&](std::int32_t s) {
      p.token_of_row[row] = s / static_cast<std::int32_t>(K);
      p.slot_of_row[row] = s;
      p.prob_of_row[row] = probs[s];
      ++row;
    };
    if (pads <= 0) {
      for (std::int64_t a = 0; a < n; ++a) take_slot(list[a]);
    } else {
      std::int64_t a = 0, added = 0;
      for (std::int64_t t = 0; t < T && (a < n || added < pads); ++t) {
        if (a < n && list[a] / K == t) {
          take_slot(list[a++]);
        } else if (added < pads) {
          p.token_of_row[row] = static_cast<std::int32_t>(t);
          p.slot_of_row[row] = -1;
          p.prob_of_row[row] = 0.0f;
          ++row;
          ++added;
        }
      }
    }
    p.counts[e] = static_cast<std::int32_t>(row - first);
  }
  // Row starts per expert, and the slot -> row map.
  std::int64_t at = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    p.offsets[e] = static_cast<std::int32_t>(at);
    at += p.counts[e];
  }
  p.offsets[E] = static_cast<std::int32_t>(at);
  for (std::int64_t i = 0; i < T * K; ++i) p.row_of_slot[i] = -1;
  for (std::int64_t r = 0; r < row; ++r)
    if (p.slot_of_row[r] >= 0) p.row_of_slot[p.slot_of_row[r]] = static_cast<std::int32_t>(r);
  // Each token's rows, ascending (counting sort by token keeps row order within a token).
  std::fill(p.token_begin, p.token_begin + T + 1, 0);
  for (std::int64_t r = 0; r < row; ++r) ++p.token_begin[p.token_of_row[r] + 1];
  for (std::int64_t t = 0; t < T; ++t) p.token_begin[t + 1] += p.token_begin[t];
  for (std::int64_t r = 0; r < row; ++r) {
    // token_begin[t] advances as t's rows are placed, then is shifted back below.
    p.token_rows[p.token_begin[p.token_of_row[r]]++] = static_cast<std::int32_t>(r);
  }
  for (std::int64_t t = T; t > 0; --t) p.token_begin[t] = p.token_begin[t - 1];
  p.token_begin[0] = 0;
  return row;
}

void TokenDispatcher::permute(const BlockCall& call, const float* x, float* rows) const {
  const DispatchPlan p = view(call);
  const std::int64_t h = c_.hidden, R = p.offsets[E_];
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < R; ++r)
    std::memcpy(rows + r * h, x + static_cast<std::int64_t>(p.token_of_row[r]) * h, sizeof(float) * static_cast<size_t>(h));
}

void TokenDispatcher::unpermute(const BlockCall& call, const float* rows, float* y) const {
  const DispatchPlan p = view(call);
  const std::int64_t h = c_.hidden, T = call.tokens();
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < T; ++t) {
    float* out = y + t * h;
    std::fill(out, out + h, 0.0f);
    for (std::int32_t i = p.token_begin[t]; i < p.token_begin[t + 1]; ++i) {
      const float* src = rows + static_cast<std::int64_t>(p.token_rows[i]) * h;
#pragma omp simd
      for (std::int64_t c = 0; c < h; ++c) out[c] += src[c];
    }
  }
}

void TokenDispatcher::unpermute_backward(const BlockCall& call, const float* dy, float* drows) const {
  permute(call, dy, drows);
}

void TokenDispatcher::permute_backward(const BlockCall& call, const float* drows, float* dx) const {
  unpermute(call, drows, dx);
}

}  // namespace primus::model
