#include "checkpoint/model_tensors.hpp"

namespace primus::checkpoint {

std::vector<ModelTensor> model_tensors(const model::PipelineStage& stage) {
  std::vector<ModelTensor> out;
  for (const model::ParamInfo& p : stage.layout().params()) out.push_back({p.name, p.global_rows, p.global_cols, true});
  for (const model::TopKRouter* r : stage.routers())
    if (!r->bias_name().empty()) out.push_back({r->bias_name(), r->experts(), 0, false});
  return out;
}

}  // namespace primus::checkpoint
