// torch.save's file format over zip_archive.hpp and pickle.hpp: an archive "<name>/" holding
// data.pkl (the pickled object, tensors referring to storages by key), data/<key> (each
// storage's raw little-endian bytes), byteorder ("little") and version ("3").
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/megatron/pickle.hpp"
#include "checkpoint/megatron/zip_archive.hpp"

namespace primus::checkpoint::megatron {

// Writes `root` (its tensors' storages supplied by `storage(key)`, each storage.numel elements
// of its type's size) as a torch.save file, atomically.
struct TorchStorage {
  std::string key;
  const void* data = nullptr;
  std::uint64_t bytes = 0;
};
void write_torch_file(const std::filesystem::path& path, const PyValue& root, const std::vector<TorchStorage>& storages);

class TorchFile {
 public:
  explicit TorchFile(const std::filesystem::path& path);
  const PyValue& root() const { return *root_; }
  const std::filesystem::path& path() const { return zip_.path(); }
  // The tensor's values as fp32, row-major over its size (strides followed; F32, BF16, F16, F64
  // storages). Throws naming the file when the storage is missing, short or of another type.
  std::vector<float> read_f32(const TensorRef& t) const;

 private:
  ZipReader zip_;
  std::string prefix_;  // "<archive>/"
  PyPtr root_;
};

// Bytes per element of a storage type ("FloatStorage" 4, "BFloat16Storage" 2, ...); 0 if unknown.
std::size_t storage_element_size(const std::string& type);

}  // namespace primus::checkpoint::megatron
