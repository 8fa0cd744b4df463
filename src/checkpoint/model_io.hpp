// A model's weights (parameters and block state) between a checkpoint and a PipelineStage of
// any layout: each tensor's local region (model::Shard) is read from whatever pieces hold it.
//
// The checkpoint must hold this model: the same parameter names with the same global shapes
// (the vocabulary's rows may differ as long as both cover the real vocabulary: padding rows are
// zero), else one line naming the tensor. Tensors of other kinds (optimizer state) are ignored.
#pragma once

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/model_tensors.hpp"
#include "model/pipeline_stage.hpp"

namespace primus::checkpoint {

// True for the embedding and output layer, whose row count is the padded vocabulary.
bool is_vocabulary_tensor(const std::string& name);

// Checks that the checkpoint holds exactly the model's tensors (see above). A pipeline stage or an
// expert-parallel rank holds part of the model: pass `unclaimed` to receive the checkpoint's model
// tensors this part does not hold instead of failing; a tensor no rank claims is the error then.
void check_model_tensors(const CheckpointReader& checkpoint, const std::vector<ModelTensor>& tensors,
                         std::int64_t real_vocab, std::vector<std::string>* unclaimed = nullptr);

// Reads every parameter's local slice and the routers' expert bias, then refreshes the bf16 copy.
void read_model(CheckpointReader& checkpoint, model::PipelineStage& stage,
                std::vector<std::string>* unclaimed = nullptr);

}  // namespace primus::checkpoint
