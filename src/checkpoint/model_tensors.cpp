#include "checkpoint/model_tensors.hpp"

namespace primus::checkpoint {

std::vector<ModelTensor> model_tensors(const model::PipelineStage& stage) {
  std::vector<ModelTensor> out;
  for (const model::ParamInfo& p : stage.layout().params()) out.push_back({p.name, p.global_rows, p.global_cols, true});
  for (const auto& b : stage.buffers()) out.push_back({b.name, static_cast<std::int64_t>(b.values->size()), 0, false});
  return out;
}

}  // namespace primus::checkpoint
