#include "train/auxiliary_losses.hpp"

#include <fmt/format.h>

namespace primus::train {

namespace {

// Megatron stores a single load-balancing type as a string, so its test is a substring test
// ("aux_loss" is in "seq_aux_loss"); a list of types is tested by membership.
bool has_type(const std::vector<std::string>& types, const std::string& name) {
  if (types.size() == 1) return types[0].find(name) != std::string::npos;
  for (const auto& t : types)
    if (t == name) return true;
  return false;
}

// The log key of a load-balancing type.
std::string log_key(const std::string& type) {
  if (type == "aux_loss") return "load_balancing_loss";
  if (type == "seq_aux_loss") return "seq_load_balancing_loss";
  if (type == "global_aux_loss") return "global_load_balancing_loss";
  return "";
}

}  // namespace

std::vector<std::string> auxiliary_loss_names(const config::Args& a) {
  std::vector<std::string> names;
  if (a.num_experts) {
    const auto& types = a.moe_router_load_balancing_type;
    if (has_type(types, "aux_loss")) names.emplace_back("load_balancing_loss");
    if (has_type(types, "seq_aux_loss")) names.emplace_back("seq_load_balancing_loss");
    if (has_type(types, "global_aux_loss")) names.emplace_back("global_load_balancing_loss");
    if (a.moe_z_loss_coeff) names.emplace_back("z_loss");
  }
  for (std::int64_t k = 1; k <= a.mtp_num_layers.value_or(0); ++k) names.push_back(fmt::format("mtp_{} loss", k));
  return names;
}

std::vector<double> finish_auxiliary_losses(model::PipelineStage& stage, const config::Args& a,
                                            std::int64_t num_micro_batches, const AuxLossGroups& groups) {
  const auto M = static_cast<double>(num_micro_batches);
  const auto& routers = stage.routers();
  auto sum_over = [](parallel::Communicator* g, double* x, std::int64_t n) {
    if (g && g->size() > 1) g->allreduce(x, n);
  };
  auto mean_over = [&](parallel::Communicator* g, double* x, std::int64_t n) {
    if (!g || g->size() == 1) return;
    g->allreduce(x, n);
    for (std::int64_t i = 0; i < n; ++i) x[i] /= static_cast<double>(g->size());
  };
  model::MoeMetrics sum;
  for (auto* r : routers) {
    std::vector<double>& counts = r->step_token_counts();
    sum_over(groups.tp_dp_cp, counts.data(), static_cast<std::int64_t>(counts.size()));
    r->update_expert_bias(counts);
    for (size_t i = 0; i < sum.balancing.size(); ++i) sum.balancing[i] += r->metrics().balancing[i];
    sum.z_loss += r->metrics().z_loss;
    r->metrics() = {};
    r->end_step();
  }
  // Each rank holds its part of aux/seq (sum over tensor × context, mean over data), its part of the
  // global loss (sum over tensor × data × context) and its tokens' mean z (mean over all three).
  sum_over(groups.tp_cp, sum.balancing.data(), 2);
  mean_over(groups.dp, sum.balancing.data(), 2);
  sum_over(groups.tp_dp_cp, &sum.balancing[2], 1);
  mean_over(groups.tp_dp_cp, &sum.z_loss, 1);
  // The whole pipeline's MoE layers: their metrics and their number.
  double across[5] = {sum.balancing[0], sum.balancing[1], sum.balancing[2], sum.z_loss,
                      static_cast<double>(routers.size())};
  sum_over(groups.pp, across, 5);
  for (size_t i = 0; i < 3; ++i) sum.balancing[i] = across[i];
  sum.z_loss = across[3];
  const double per = across[4] == 0.0 ? 0.0 : 1.0 / (M * across[4]);
  std::vector<double> values;
  for (const auto& name : auxiliary_loss_names(a)) {
    // A type matched only as a substring (see has_type) was never computed: Megatron prints 0.
    bool listed = false;
    for (const auto& t : a.moe_router_load_balancing_type) listed |= name == log_key(t);
    if (name == "load_balancing_loss") values.push_back(listed ? sum.balancing[0] * per : 0.0);
    else if (name == "seq_load_balancing_loss") values.push_back(listed ? sum.balancing[1] * per : 0.0);
    else if (name == "global_load_balancing_loss") values.push_back(listed ? sum.balancing[2] * per : 0.0);
    else if (name == "z_loss") values.push_back(sum.z_loss * per);
  }
  std::vector<double> mtp = stage.take_mtp_losses();
  mtp.resize(static_cast<size_t>(a.mtp_num_layers.value_or(0)), 0.0);  // held by the last stage only
  mean_over(groups.dp_cp, mtp.data(), static_cast<std::int64_t>(mtp.size()));
  sum_over(groups.pp, mtp.data(), static_cast<std::int64_t>(mtp.size()));
  for (double l : mtp) values.push_back(l / M);
  return values;
}

}  // namespace primus::train
