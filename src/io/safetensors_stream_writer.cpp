#include "io/safetensors_stream_writer.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace primus::io {

SafetensorsStreamWriter::SafetensorsStreamWriter(std::filesystem::path path, std::vector<TensorDecl> tensors,
                                                 std::map<std::string, std::string> metadata, Observer observer)
    : path_(std::move(path)), order_(std::move(tensors)), observer_(std::move(observer)) {
  const std::string target = path_.string();
  std::set<std::string> seen;
  for (const TensorDecl& t : order_) {
    if (t.name.empty()) fail("{}: a tensor name must not be empty", target);
    if (t.name == kMetadataKey) fail("{}: '{}' is reserved for metadata", target, t.name);
    if (!seen.insert(t.name).second) fail("{}: tensor '{}' declared twice", target, t.name);
    const auto numel = checked_numel(t.shape);
    if (!numel) fail("{}: tensor '{}': invalid shape {}", target, t.name, shape_string(t.shape));
  }
  // SafetensorsWriter's layout: larger elements first, then by name.
  std::sort(order_.begin(), order_.end(), [](const TensorDecl& a, const TensorDecl& b) {
    const std::size_t sa = st_dtype_size(a.dtype), sb = st_dtype_size(b.dtype);
    return sa != sb ? sa > sb : a.name < b.name;
  });
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const TensorDecl& t : order_) {
    const std::uint64_t bytes = static_cast<std::uint64_t>(*checked_numel(t.shape)) * st_dtype_size(t.dtype);
    header[t.name] = {{"dtype", std::string(st_dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    sizes_.push_back(bytes);
    offset += bytes;
  }
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: cannot encode the header (names and metadata must be UTF-8): {}", target, e.what());
  }
  text.append((kHeaderAlignment - text.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  file_ = std::make_unique<AtomicFile>(path_, /*durable=*/true);
  emit(length, sizeof length);
  emit(text.data(), text.size());
  while (current_ < sizes_.size() && sizes_[current_] == 0) ++current_;
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() = default;

void SafetensorsStreamWriter::emit(const void* data, std::size_t bytes) {
  file_->write(data, bytes);
  if (observer_) observer_(data, bytes);
}

void SafetensorsStreamWriter::write(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (bytes > 0) {
    if (current_ >= order_.size())
      fail("internal: {}: more bytes written than the declared tensors hold", path_.string());
    const std::uint64_t take = std::min<std::uint64_t>(bytes, sizes_[current_] - current_done_);
    emit(p, static_cast<std::size_t>(take));
    p += take;
    bytes -= static_cast<std::size_t>(take);
    current_done_ += take;
    if (current_done_ == sizes_[current_]) {
      ++current_;
      current_done_ = 0;
      while (current_ < sizes_.size() && sizes_[current_] == 0) ++current_;
    }
  }
}

void SafetensorsStreamWriter::commit() {
  if (current_ != order_.size())
    fail("internal: {}: tensor '{}' was not written completely", path_.string(), order_[current_].name);
  file_->commit();
}

}  // namespace primus::io
