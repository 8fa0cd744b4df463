#include "checkpoint/checkpoint_builder.hpp"

#include <map>

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
  std::size_t at = 0;
  while (at < tensors.size()) {
    // The next file: as many tensors as fit.
    std::vector<Piece> group;
    std::vector<const ModelTensor*> sources;
    std::uint64_t bytes = 0;
    while (at < tensors.size()) {
      const std::uint64_t b = static_cast<std::uint64_t>(tensors[at].numel()) * sizeof(float);
      if (!group.empty() && bytes + b > max_file_bytes_) break;
      group.push_back({tensors[at].name, tensors[at].shape(), whole_region(tensors[at].rows, tensors[at].cols)});
      sources.push_back(&tensors[at++]);
      bytes += b;
    }
    write_file(group, [&](std::size_t i, float* out) { produce(*sources[i], out); });
  }
}

void CheckpointBuilder::write_file(const std::vector<Piece>& pieces, const std::function<void(std::size_t, float*)>& produce) {
  const std::string name = fmt::format("part_{:05d}.safetensors", meta_.files.size());
  std::vector<io::TensorDecl> decls;
  std::map<std::string, std::size_t> by_key;
  std::map<std::string, int> count;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Piece& p = pieces[i];
    const int k = count[p.tensor]++;
    std::string key = k == 0 ? p.tensor : fmt::format("{}#{}", p.tensor, k);
    const std::int64_t rows = p.region.row_count();
    decls.push_back({key, io::StDType::F32,
                     p.shape.size() == 1 ? std::vector<std::int64_t>{rows} : std::vector<std::int64_t>{rows, p.region.cols}});
    by_key[key] = i;
    StoredTensor& st = meta_.tensors[p.tensor];
    if (st.pieces.empty()) st.shape = p.shape;
    else if (st.shape != p.shape) fail("internal: pieces of '{}' disagree on its shape", p.tensor);
    st.pieces.push_back({name, key, p.region});
  }
  std::uint32_t crc = 0;
  io::SafetensorsStreamWriter writer(partial_dir(save_, iteration_) / name, std::move(decls), {{"format", kFormatName}},
                                     [&crc](const void* d, std::size_t n) { crc = crc32c_update(crc, d, n); });
  std::vector<float> buffer;
  for (const io::TensorDecl& d : writer.order()) {
    const std::size_t i = by_key.at(d.name);
    buffer.assign(static_cast<std::size_t>(pieces[i].region.numel()), 0.0f);
    produce(i, buffer.data());
    writer.write(buffer.data(), buffer.size() * sizeof(float));
  }
  const std::uint64_t written = writer.bytes_written();
  writer.commit();
  meta_.files.push_back({name, written, crc});
}

SaveResult CheckpointBuilder::commit(nlohmann::json state) {
  meta_.state = std::move(state);
  for (const auto& [name, t] : meta_.tensors) {
    std::vector<Region> regions;
    for (const StoredPiece& p : t.pieces) regions.push_back(p.region);
    const std::string problem = check_partition(regions, t.rows(), t.cols());
    if (!problem.empty()) fail("internal: converted tensor '{}': {}", name, problem);
  }
  return publish_checkpoint(save_, iteration_, meta_, RetentionPolicy{});
}

}  // namespace primus::checkpoint
