// Layout, header and atomic write of SafetensorsWriter (choices documented in the header).
#include "io/safetensors_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace primus::io {

namespace {

// Writes all of [data, data + size) to fd; returns errno on failure, 0 on success.
int write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; large tensors go in several.
    const std::size_t chunk = std::min<std::size_t>(size, std::size_t{1} << 30);
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

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

  const std::string tmp = target + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create {}: {}", target, tmp, std::strerror(errno));
  int err = write_all(fd, length, sizeof length);
  if (err == 0) err = write_all(fd, text.data(), text.size());
  for (const auto& [name, p] : order) {
    if (err != 0) break;
    err = write_all(fd, p->owned.empty() ? p->data : p->owned.data(), p->bytes);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail("{}: write failed: {}", target, std::strerror(err));
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot rename {} into place: {}", target, tmp, std::strerror(err));
  }
  // Make the rename itself durable.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace primus::io
