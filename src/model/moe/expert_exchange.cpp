#include "model/moe/expert_exchange.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "model/moe/allgather_exchange.hpp"
#include "model/moe/alltoall_exchange.hpp"

namespace primus::model {

ExpertExchange::ExpertExchange(const BuildContext& ctx, const TokenDispatcher& dispatcher, BufferPlan& saved)
    : c_(ctx.config),
      dispatcher_(dispatcher),
      ep_(ctx.parallel.ep_group()),
      P_(ctx.parallel.ep_size()),
      me_(ctx.parallel.ep_rank()),
      E_(ctx.config.moe.experts),
      local_experts_(ctx.config.moe.experts / ctx.parallel.ep_size()),
      k_(ctx.config.moe.topk) {
  if (local_experts_ * P_ != E_)
    fail("num_experts {} is not divisible by expert_model_parallel_size {}", E_, P_);
  // What one source can send to this rank: each token at most min(k, E/P) rows (distinct experts),
  // each expert at most its capacity (exactly that when padded).
  const std::int64_t T = ctx.tokens(), cap = dispatcher.capacity();
  std::int64_t per_source = T * std::min(k_, local_experts_);
  if (cap >= 0) per_source = dispatcher.padded() ? local_experts_ * cap : std::min(per_source, local_experts_ * cap);
  max_local_rows_ = static_cast<std::int64_t>(P_) * per_source;
  local_counts_ = saved.add(local_experts_);
  local_offsets_ = saved.add(local_experts_ + 1);
  local_prob_ = saved.add(max_local_rows_);
}

DispatchPlan ExpertExchange::local_plan(const BlockCall& call) const {
  DispatchPlan p{};
  p.counts = reinterpret_cast<std::int32_t*>(call.at_saved(local_counts_));
  p.offsets = reinterpret_cast<std::int32_t*>(call.at_saved(local_offsets_));
  p.prob_of_row = call.at_saved(local_prob_);
  return p;
}

std::unique_ptr<ExpertExchange> ExpertExchange::create(const BuildContext& ctx, const TokenDispatcher& dispatcher,
                                                       BufferPlan& saved, BufferPlan& scratch) {
  if (ctx.config.moe.dispatcher == TokenDispatcherType::AllToAll)
    return std::make_unique<AllToAllExchange>(ctx, dispatcher, saved, scratch);
  return std::make_unique<AllGatherExchange>(ctx, dispatcher, saved, scratch);
}

}  // namespace primus::model
