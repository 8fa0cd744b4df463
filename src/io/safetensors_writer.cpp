// Layout, header and atomic write of SafetensorsWriter (choices documented in the header).
#include "io/safetensors_writer.hpp"

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace primus::io {


void SafetensorsWriter::check_count(const std::string& name,
                                    const std::vector<std::int64_t>& shape,
                                    std::size_t count) const {
  const auto numel = checked_numel(shape);
  if (numel && static_cast<std::size_t>(*numel) != count)
    fail("safetensors: tensor '{}': shape {} has {} elements but {} were given", name,
         shape_string(shape), *numel, count);
}

void SafetensorsWriter::insert(std::string name, StDType dtype, std::vector<std::int64_t> shape,
                               const void* data, bool copy) {
  if (name.empty()) fail("safetensors: a tensor name must not be empty");
  if (name == kMetadataKey) fail("safetensors: '{}' is reserved for metadata", name);
  if (tensors_.count(name) != 0) fail("safetensors: tensor '{}' added twice", name);
  const auto numel = checked_numel(shape);
  if (!numel || static_cast<std::uint64_t>(*numel) > SIZE_MAX / st_dtype_size(dtype))
    fail("safetensors: tensor '{}': invalid shape {}", name, shape_string(shape));
  const std::size_t bytes = static_cast<std::size_t>(*numel) * st_dtype_size(dtype);
  if (data == nullptr && bytes > 0)
    fail("safetensors: tensor '{}': null data for {} bytes", name, bytes);
  Pending p{dtype, std::move(shape), data, {}, bytes};
  if (copy) {
    p.owned.resize(bytes);
    if (bytes > 0) std::memcpy(p.owned.data(), data, bytes);
  }
  tensors_.emplace(std::move(name), std::move(p));
}

void SafetensorsWriter::add(std::string name, StDType dtype, std::vector<std::int64_t> shape,
                            const void* data) {
  insert(std::move(name), dtype, std::move(shape), data, false);
}

void SafetensorsWriter::add(std::string name, const TensorView& t) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(t.ndim()));
  for (int i = 0; i < t.ndim(); ++i) shape[static_cast<std::size_t>(i)] = t.size(i);
  add(std::move(name), to_st_dtype(t.dtype()), std::move(shape), t.data());
}

void SafetensorsWriter::add_copy(std::string name, StDType dtype,
                                 std::vector<std::int64_t> shape, const void* data) {
  insert(std::move(name), dtype, std::move(shape), data, true);
}

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  const std::string target = path.string();

  // Data order: larger elements first (alignment), then by name (the map's order).
  std::vector<std::pair<const std::string*, const Pending*>> order;
  order.reserve(tensors_.size());
  for (const auto& [name, pending] : tensors_) order.emplace_back(&name, &pending);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return st_dtype_size(a.second->dtype) > st_dtype_size(b.second->dtype);
  });

  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  for (const auto& [name, p] : order) {
    header[*name] = {{"dtype", std::string(st_dtype_name(p->dtype))},
                     {"shape", p->shape},
                     {"data_offsets", {offset, offset + p->bytes}}};
    offset += p->bytes;
  }
  if (!metadata_.empty()) header[std::string(kMetadataKey)] = metadata_;

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: cannot encode the header (names and metadata must be UTF-8): {}", target, e.what());
  }
  text.append((kHeaderAlignment - text.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  AtomicFile file(path, /*durable=*/true);
  file.write(length, sizeof length);
  file.write(text);
  for (const auto& [name, p] : order) file.write(p->owned.empty() ? p->data : p->owned.data(), p->bytes);
  file.commit();
}

}  // namespace primus::io
