// The GPT decoder (Megatron-Core's GPTModel) on one process: the pipeline stage that holds every
// layer, the embedding, the final norm, the output layer and the loss.
#pragma once

#include "model/pipeline_stage.hpp"

namespace primus::model {

class GPTModel : public PipelineStage {
 public:
  GPTModel(const ModelConfig& config, std::int64_t micro_batch, const RecomputePlan& recompute,
           std::int64_t region_alignment = 16, const ModelParallel& parallel = {})
      : PipelineStage(config, micro_batch, recompute, StageRange::whole(config), region_alignment, parallel) {}
};

}  // namespace primus::model
