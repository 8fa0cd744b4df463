// The tensors a model's checkpoint holds, by global name and shape: every parameter of the stage
// (parameter_layout.hpp) and the model's non-parameter state (PipelineStage::buffers(): the
// routers' expert bias of aux-loss-free balancing, shape [num_experts]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/pipeline_stage.hpp"

namespace primus::checkpoint {

struct ModelTensor {
  std::string name;
  std::int64_t rows = 0, cols = 0;  // global; cols == 0 for 1-D
  bool parameter = true;            // false: block state (expert bias)

  std::vector<std::int64_t> shape() const { return cols ? std::vector<std::int64_t>{rows, cols} : std::vector<std::int64_t>{rows}; }
  std::int64_t numel() const { return cols ? rows * cols : rows; }
};

std::vector<ModelTensor> model_tensors(const model::PipelineStage& stage);

}  // namespace primus::checkpoint
