#include "checkpoint/checkpoint_builder.hpp"

#include <fmt/format.h>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/crc32c.hpp"
#include "core/error.hpp"
#include "io/safetensors_stream_writer.hpp"

namespace primus::checkpoint {

CheckpointBuilder::CheckpointBuilder(std::filesystem::path save, std::int64_t iteration, std::uint64_t max_file_bytes)
    : save_(std::move(save)), iteration_(iteration), max_file_bytes_(max_file_bytes) {
  meta_.iteration = iteration == kRelease ? 0 : iteration;
  prepare_partial_folder(save_, iteration_);
}

void CheckpointBuilder::write(const std::vector<ModelTensor>& tensors,
                              const std::function<void(const ModelTensor&, float*)>& produce) {
  std::vector<float> buffer;
  std::size_t at = 0;
  while (at < tensors.size()) {
    // The next file: as many tensors as fit.
    std::vector<const ModelTensor*> group;
    std::uint64_t bytes = 0;
    while (at < tensors.size()) {
      const std::uint64_t b = static_cast<std::uint64_t>(tensors[at].numel()) * sizeof(float);
      if (!group.empty() && bytes + b > max_file_bytes_) break;
      group.push_back(&tensors[at++]);
      bytes += b;
    }
    const std::string name = fmt::format("part_{:05d}.safetensors", meta_.files.size());
    std::vector<io::TensorDecl> decls;
    std::map<std::string, const ModelTensor*> by_name;
    for (const ModelTensor* t : group) {
      decls.push_back({t->name, io::StDType::F32, t->shape()});
      by_name[t->name] = t;
      if (meta_.tensors.count(t->name)) fail("internal: tensor '{}' written twice", t->name);
      StoredTensor& st = meta_.tensors[t->name];
      st.shape = t->shape();
      st.pieces.push_back({name, t->name, whole_region(t->rows, t->cols)});
    }
    std::uint32_t crc = 0;
    io::SafetensorsStreamWriter writer(partial_dir(save_, iteration_) / name, std::move(decls), {{"format", kFormatName}},
                                       [&crc](const void* d, std::size_t n) { crc = crc32c_update(crc, d, n); });
    for (const io::TensorDecl& d : writer.order()) {
      const ModelTensor& t = *by_name.at(d.name);
      buffer.assign(static_cast<std::size_t>(t.numel()), 0.0f);
      produce(t, buffer.data());
      writer.write(buffer.data(), buffer.size() * sizeof(float));
    }
    const std::uint64_t written = writer.bytes_written();
    writer.commit();
    meta_.files.push_back({name, written, crc});
  }
}

SaveResult CheckpointBuilder::commit(nlohmann::json state) {
  meta_.state = std::move(state);
  return publish_checkpoint(save_, iteration_, meta_, RetentionPolicy{});
}

}  // namespace primus::checkpoint
