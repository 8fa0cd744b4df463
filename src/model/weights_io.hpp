// The model's parameters as a safetensors file under Megatron-Core names and layouts (the fused
// QKV rows interleaved per query group, as Megatron stores them), fp32. Used by the fidelity
// tests (weights written by the PyTorch reference) and as the base of checkpoint/HF export.
#pragma once

#include <filesystem>
#include <string>

#include "model/gpt_model.hpp"

namespace primus::model {

// Reads every parameter of `model` from `path` (extra tensors are an error, as are missing or
// mis-shaped ones; `prefix` is prepended to each name, e.g. "grad."). Refreshes the bf16 copy.
void load_parameters(GPTModel& model, const std::filesystem::path& path, const std::string& prefix = "");
// Reads tensors named prefix+<param name> into `dst` (a buffer laid out like the parameters,
// e.g. a gradient or optimizer-state buffer), converting QKV to this engine's order.
void load_parameter_buffer(const GPTModel& model, const std::filesystem::path& path, const std::string& prefix,
                           float* dst, bool allow_extra_tensors);
// Writes `src` (laid out like the parameters) as fp32 tensors named prefix+<param name>.
void save_parameter_buffer(const GPTModel& model, const float* src, const std::filesystem::path& path,
                           const std::string& prefix = "");

}  // namespace primus::model
