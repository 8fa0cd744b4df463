// The model's parameters as a safetensors file of GLOBAL tensors under Megatron-Core names and
// layouts (e.g. the fused QKV rows interleaved per query group, as Megatron stores them), fp32.
// Each parameter's Shard (parameter_layout.hpp) maps between the file's tensor and the slice
// this process holds. Used by the fidelity tests (weights written by the PyTorch reference) and
// as the base of checkpoint/HF export.
#pragma once

#include <filesystem>
#include <string>

#include "model/pipeline_stage.hpp"

namespace primus::model {

// Reads every parameter of `model` from `path` (extra tensors are an error, as are missing or
// mis-shaped ones; `prefix` is prepended to each name, e.g. "grad."). Refreshes the bf16 copy.
void load_parameters(PipelineStage& model, const std::filesystem::path& path, const std::string& prefix = "");
// Reads tensors named prefix+<param name> into `dst` (a buffer laid out like the parameters,
// e.g. a gradient or optimizer-state buffer), taking this process' slice of each.
void load_parameter_buffer(const PipelineStage& model, const std::filesystem::path& path, const std::string& prefix,
                           float* dst, bool allow_extra_tensors);
// Writes `src` (laid out like the parameters) as fp32 global tensors named prefix+<param name>;
// every parameter must be held whole (a one-process model).
void save_parameter_buffer(const PipelineStage& model, const float* src, const std::filesystem::path& path,
                           const std::string& prefix = "");

// Copies between a global tensor (row-major [global_rows, global_cols]) and the local slice.
void global_to_local(const ParamInfo& p, const float* global, float* local);
void local_to_global(const ParamInfo& p, const float* local, float* global);

}  // namespace primus::model
