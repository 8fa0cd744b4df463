#include "model/weights_io.hpp"

#include <set>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"
#include "model/qkv_layout.hpp"

namespace primus::model {

namespace {

bool is_qkv(const std::string& name) { return name.find("self_attention.linear_qkv.") != std::string::npos; }

QkvShape qkv_shape(const ModelConfig& c, const ParamInfo& p) {
  return QkvShape{c.heads, c.groups, c.head_dim, p.cols ? p.cols : 1};
}

std::vector<std::int64_t> shape_of(const ParamInfo& p) {
  return p.cols ? std::vector<std::int64_t>{p.rows, p.cols} : std::vector<std::int64_t>{p.rows};
}

}  // namespace

void load_parameter_buffer(const GPTModel& model, const std::filesystem::path& path, const std::string& prefix,
                           float* dst, bool allow_extra_tensors) {
  io::SafetensorsReader reader(path);
  std::set<std::string> used;
  for (const ParamInfo& p : model.layout().params()) {
    const std::string name = prefix + p.name;
    if (!reader.contains(name)) fail("{}: tensor '{}' is missing", path.string(), name);
    const auto& entry = reader.entry(name);
    if (entry.shape != shape_of(p))
      fail("{}: tensor '{}' has shape {} but the model expects {}", path.string(), name, fmt::join(entry.shape, "x"),
           fmt::join(shape_of(p), "x"));
    std::span<float> out(dst + p.offset, static_cast<size_t>(p.numel()));
    if (is_qkv(p.name)) {
      std::vector<float> interleaved = reader.read_f32(name);
      qkv_interleaved_to_split(interleaved.data(), out.data(), qkv_shape(model.config(), p));
    } else {
      reader.read_f32(name, out);
    }
    used.insert(name);
  }
  if (!allow_extra_tensors)
    for (const auto& n : reader.names())
      if (n.starts_with(prefix) && !used.count(n))
        fail("{}: tensor '{}' is not a parameter of this model (check the model configuration)", path.string(), n);
}

void load_parameters(GPTModel& model, const std::filesystem::path& path, const std::string& prefix) {
  load_parameter_buffer(model, path, prefix, model.params(), /*allow_extra_tensors=*/!prefix.empty());
  model.parameters_changed();
}

void save_parameter_buffer(const GPTModel& model, const float* src, const std::filesystem::path& path,
                           const std::string& prefix) {
  io::SafetensorsWriter writer;
  std::vector<std::vector<float>> converted;  // QKV in Megatron's order, kept alive until write()
  for (const ParamInfo& p : model.layout().params()) {
    const float* data = src + p.offset;
    if (is_qkv(p.name)) {
      converted.emplace_back(static_cast<size_t>(p.numel()));
      qkv_split_to_interleaved(data, converted.back().data(), qkv_shape(model.config(), p));
      data = converted.back().data();
    }
    writer.add(prefix + p.name, io::StDType::F32, shape_of(p), data);
  }
  writer.write(path);
}

}  // namespace primus::model
