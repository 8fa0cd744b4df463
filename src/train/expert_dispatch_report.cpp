#include "train/expert_dispatch_report.hpp"

#include <fmt/format.h>

namespace primus::train {

ExpertDispatchReport expert_dispatch_report(model::PipelineStage& model, const config::Args& a, std::int64_t steps,
                                            parallel::Communicator& world) {
  ExpertDispatchReport r;
  double sums[3] = {0.0, 0.0, 0.0};  // measured, total, layers with an exchange
  for (const auto& [name, layer] : model.moe_layers()) {
    model::ExpertExchange* x = layer->exchange();
    if (!x) continue;
    sums[0] += static_cast<double>(x->volume().dispatch_hidden_bytes);
    sums[1] += static_cast<double>(x->volume().total_bytes);
    sums[2] += 1.0;
  }
  world.allreduce(sums, 3);
  if (sums[2] == 0.0 || steps <= 0) return r;
  const double ranks = world.size(), per = static_cast<double>(steps) * ranks;
  r.empty = false;
  r.measured_bytes = sums[0] / per;
  r.total_bytes = sums[1] / per;
  const double layers = sums[2] / ranks, ep = static_cast<double>(a.expert_model_parallel_size);
  const double tokens = static_cast<double>(a.micro_batch_size * a.seq_length) /
                        (a.sequence_parallel ? static_cast<double>(a.tensor_model_parallel_size) : 1.0);
  const double per_token = a.moe_token_dispatcher_type == "alltoall"
                               ? static_cast<double>(a.moe_router_topk) * (ep - 1.0) / ep
                               : ep - 1.0;
  r.formula_bytes = static_cast<double>(a.num_micro_batches) * tokens * per_token *
                    static_cast<double>(a.hidden_size) * 4.0 * layers;
  return r;
}

std::string ExpertDispatchReport::line() const {
  constexpr double MiB = 1024.0 * 1024.0;
  return fmt::format(
      "expert-parallel dispatch per rank per step: {:.4f} MiB of hidden states sent to other ranks' experts "
      "(formula {:.4f} MiB, ratio {:.3f}); {:.4f} MiB in all exchanges (dispatch, combine, backward, counts)",
      measured_bytes / MiB, formula_bytes / MiB, formula_bytes > 0 ? measured_bytes / formula_bytes : 0.0,
      total_bytes / MiB);
}

}  // namespace primus::train
