// Writes a safetensors file (format: io/safetensors_format.hpp) that Hugging Face's readers
// and our SafetensorsReader accept.
//
// Choices:
// - Atomic (io/atomic_file.hpp): the file is written to a unique temporary name beside <path>,
//   fsync'ed, renamed over <path> and the folder fsync'ed, so a crash mid-checkpoint leaves the
//   previous file intact, never a torn one.
// - Layout: tensors are stored by decreasing element size, then by name (byte order of the
//   UTF-8 names). The header is padded with spaces to a multiple of 8 bytes, so every tensor
//   starts at a multiple of its element size (8-byte types first, then 4, 2, 1) and can be
//   viewed in place after mmap. The file depends only on the tensors, not on the order of the
//   add() calls, so the same model state always gives the same bytes.
// - The header's JSON object is written with sorted keys, compact, "__metadata__" included
//   only when metadata was set.
// - Data is borrowed: add() records a pointer, and the bytes are streamed from it by write(),
//   so saving a checkpoint needs no second copy of the weights. The memory must stay valid and
//   unchanged until write() returns. add_copy() keeps its own copy for small values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/safetensors_format.hpp"

namespace primus::io {

class SafetensorsWriter {
 public:
  // Records a tensor whose numel(shape) * st_dtype_size(dtype) bytes start at `data`.
  // Throws primus::Error on an empty, reserved ("__metadata__") or repeated name, or a negative
  // or overflowing shape.
  void add(std::string name, StDType dtype, std::vector<std::int64_t> shape, const void* data);

  // Typed form: the span must hold exactly numel(shape) elements.
  template <typename T>
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const T> data) {
    check_count(name, shape, data.size());
    add(std::move(name), StDTypeOf<T>::value, std::move(shape), data.data());
  }
  template <typename T>
  void add(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& data) {
    add(std::move(name), std::move(shape), std::span<const T>(data));
  }

  // An engine tensor (fp32 -> F32, bf16 -> BF16), borrowed like add().
  void add(std::string name, const TensorView& t);

  // Like add(), but the writer keeps a copy of the bytes (for scalars and temporaries).
  void add_copy(std::string name, StDType dtype, std::vector<std::int64_t> shape,
                const void* data);
  template <typename T>
  void add_copy(std::string name, std::vector<std::int64_t> shape, std::span<const T> data) {
    check_count(name, shape, data.size());
    add_copy(std::move(name), StDTypeOf<T>::value, std::move(shape), data.data());
  }

  // One "__metadata__" entry (replaces an earlier value of the same key).
  void set_metadata(std::string key, std::string value);

  std::size_t size() const { return tensors_.size(); }

  // Writes the file atomically (see above); throws primus::Error naming the path on failure.
  void write(const std::filesystem::path& path) const;

 private:
  struct Pending {
    StDType dtype;
    std::vector<std::int64_t> shape;
    const void* data;
    std::vector<std::byte> owned;  // add_copy's bytes; `data` is ignored when non-empty
    std::size_t bytes;
  };
  void check_count(const std::string& name, const std::vector<std::int64_t>& shape,
                   std::size_t count) const;
  void insert(std::string name, StDType dtype, std::vector<std::int64_t> shape, const void* data,
              bool copy);

  std::map<std::string, Pending> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace primus::io
