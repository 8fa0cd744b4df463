// The losses a training step reports besides the lm loss, named and ordered as Megatron prints
// them (megatron-engine.md §8, §10, §12): MoE load-balancing losses and the z-loss (each divided
// by its coefficient, averaged over micro-batches and MoE layers), then one 'mtp_k loss' per
// multi-token-prediction depth (averaged over micro-batches, without the scaling factor).
// Also ends the step of every router: the expert bias is updated from the step's token counts.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/args.hpp"
#include "model/pipeline_stage.hpp"
#include "parallel/communicator.hpp"

namespace primus::train {

// Names in print order (empty for a dense model without MTP).
std::vector<std::string> auxiliary_loss_names(const config::Args& args);

// The groups over which Megatron reduces what the routers and MTP layers report (nullptr: this
// process alone): token counts for the expert bias are summed over tensor × data × context;
// aux_loss and seq_aux_loss values (each rank's part of the loss) summed over tensor × context,
// then averaged over data; global_aux_loss summed over tensor × data × context; the z-loss
// averaged over tensor × data × context; MTP losses averaged over data × context. Every value is
// then summed over the pipeline group (each stage reports its own layers; Megatron's tracker
// reduces over pipeline ranks), so each rank reports the whole model's losses.
struct AuxLossGroups {
  parallel::Communicator* tp_cp = nullptr;
  parallel::Communicator* dp = nullptr;
  parallel::Communicator* tp_dp_cp = nullptr;
  parallel::Communicator* dp_cp = nullptr;
  parallel::Communicator* pp = nullptr;
};

// Values for the names above from this step's micro-batches (and resets the model's counters);
// the expert bias is updated from the reduced counts.
std::vector<double> finish_auxiliary_losses(model::PipelineStage& stage, const config::Args& args,
                                            std::int64_t num_micro_batches, const AuxLossGroups& groups = {});

}  // namespace primus::train
