#include "model/weights_io.hpp"

#include <cstring>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"

namespace primus::model {

namespace {

std::vector<std::int64_t> global_shape(const ParamInfo& p) {
  return p.global_cols ? std::vector<std::int64_t>{p.global_rows, p.global_cols} : std::vector<std::int64_t>{p.global_rows};
}

}  // namespace

void global_to_local(const ParamInfo& p, const float* global, float* local) {
  const std::int64_t cols = p.cols ? p.cols : 1, gcols = p.global_cols ? p.global_cols : 1;
  for (std::int64_t r = 0; r < p.rows; ++r)
    std::memcpy(local + r * cols, global + p.global_row(r) * gcols + p.shard.col_begin,
                static_cast<size_t>(cols) * sizeof(float));
}

void local_to_global(const ParamInfo& p, const float* local, float* global) {
  const std::int64_t cols = p.cols ? p.cols : 1, gcols = p.global_cols ? p.global_cols : 1;
  for (std::int64_t r = 0; r < p.rows; ++r)
    std::memcpy(global + p.global_row(r) * gcols + p.shard.col_begin, local + r * cols,
                static_cast<size_t>(cols) * sizeof(float));
}

void load_parameter_buffer(const PipelineStage& model, const std::filesystem::path& path, const std::string& prefix,
                           float* dst, bool allow_extra_tensors) {
  io::SafetensorsReader reader(path);
  std::set<std::string> used;
  std::vector<float> global;
  for (const ParamInfo& p : model.layout().params()) {
    const std::string name = prefix + p.name;
    if (!reader.contains(name)) fail("{}: tensor '{}' is missing", path.string(), name);
    const auto& entry = reader.entry(name);
    if (entry.shape != global_shape(p))
      fail("{}: tensor '{}' has shape {} but the model expects {}", path.string(), name, fmt::join(entry.shape, "x"),
           fmt::join(global_shape(p), "x"));
    if (p.is_whole()) {
      reader.read_f32(name, std::span<float>(dst + p.offset, static_cast<size_t>(p.numel())));
    } else {
      global = reader.read_f32(name);
      global_to_local(p, global.data(), dst + p.offset);
    }
    used.insert(name);
  }
  // Model state that is not a parameter (expert biases) is read with the parameters.
  if (dst == model.params())
    for (const auto& b : model.buffers()) {
      const std::string name = prefix + b.name;
      if (!reader.contains(name)) continue;  // Megatron initialises it to zeros
      if (reader.entry(name).shape != std::vector<std::int64_t>{static_cast<std::int64_t>(b.values->size())})
        fail("{}: tensor '{}' has shape {} but the model expects [{}]", path.string(), name,
             fmt::join(reader.entry(name).shape, "x"), b.values->size());
      reader.read_f32(name, std::span<float>(b.values->data(), b.values->size()));
      used.insert(name);
    }
  if (!allow_extra_tensors)
    for (const auto& n : reader.names())
      if (n.starts_with(prefix) && !used.count(n))
        fail("{}: tensor '{}' is not a parameter of this model (check the model configuration)", path.string(), n);
}

void load_parameters(PipelineStage& model, const std::filesystem::path& path, const std::string& prefix) {
  load_parameter_buffer(model, path, prefix, model.params(), /*allow_extra_tensors=*/!prefix.empty());
  model.parameters_changed();
}

void save_parameter_buffer(const PipelineStage& model, const float* src, const std::filesystem::path& path,
                           const std::string& prefix) {
  io::SafetensorsWriter writer;
  std::vector<std::vector<float>> converted;  // global tensors, kept alive until write()
  for (const ParamInfo& p : model.layout().params()) {
    const float* data = src + p.offset;
    if (!p.is_whole()) {
      if (p.numel() != p.global_numel())
        fail("internal: parameter '{}' is split across processes; a one-file save needs the whole tensor", p.name);
      converted.emplace_back(static_cast<size_t>(p.numel()));
      local_to_global(p, data, converted.back().data());
      data = converted.back().data();
    }
    writer.add(prefix + p.name, io::StDType::F32, global_shape(p), data);
  }
  if (src == model.params())
    for (const auto& b : model.buffers())
      writer.add(prefix + b.name, io::StDType::F32, {static_cast<std::int64_t>(b.values->size())}, b.values->data());
  writer.write(path);
}

}  // namespace primus::model
