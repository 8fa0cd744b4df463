// Reads a safetensors file (format: io/safetensors_format.hpp) through a read-only memory map,
// so that loading a checkpoint touches only the bytes it copies and a multi-GB file costs no
// up-front read.
//
// The constructor validates the whole file before anything is handed out, because a
// checkpoint or fixture that is truncated or hand-edited must fail at load time with a message
// naming the file, not produce garbage weights later. It checks: the file holds the 8-byte
// length and the header it announces; the header is a well-formed JSON object (no duplicate
// keys); every tensor has a known dtype, a shape of non-negative integers and two ordered
// data_offsets; its byte size equals numel * element size; no two tensors overlap; and the
// tensors cover the data section exactly (no gaps, no trailing bytes — the rule Hugging Face's
// reader applies, so every file we accept is also readable there). "__metadata__" must map
// strings to strings. Every failure is a primus::Error "PATH: what is wrong".
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "io/safetensors_format.hpp"

namespace primus::io {

class SafetensorsReader {
 public:
  // Maps and validates `path`; throws primus::Error naming the file on any problem.
  explicit SafetensorsReader(const std::filesystem::path& path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;
  SafetensorsReader(SafetensorsReader&& other) noexcept;
  SafetensorsReader& operator=(SafetensorsReader&& other) noexcept;

  const std::filesystem::path& path() const { return path_; }

  // All tensors, in the order of their bytes in the file.
  const std::vector<TensorEntry>& tensors() const { return entries_; }
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  // The entry of `name`; throws primus::Error naming the file and the tensor when absent.
  const TensorEntry& entry(std::string_view name) const;
  // The "__metadata__" map (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The raw little-endian bytes of a tensor, inside the mapping (valid while the reader lives).
  std::span<const std::byte> bytes(std::string_view name) const;

  // A zero-copy typed view. Throws when the stored dtype is not T's (no silent conversion) or
  // when the bytes are not aligned for T (files written by this writer and by Hugging Face's
  // are; a file laid out otherwise can still be read with copy<T>).
  template <typename T>
  std::span<const T> view(std::string_view name) const {
    const TensorEntry& e = typed_entry(name, StDTypeOf<T>::value);
    const std::byte* p = data_ + e.begin;
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0)
      fail("{}: tensor '{}' is not {}-byte aligned in the file; read it with a copy", path_.string(),
           e.name, alignof(T));
    return {reinterpret_cast<const T*>(p), static_cast<std::size_t>(e.numel())};
  }

  // A copy with the stored dtype T (any alignment).
  template <typename T>
  std::vector<T> copy(std::string_view name) const {
    const TensorEntry& e = typed_entry(name, StDTypeOf<T>::value);
    std::vector<T> out(static_cast<std::size_t>(e.numel()));
    copy_bytes(e, out.data());
    return out;
  }

  // Floating-point tensors (F32, BF16, F16, F64, F8_E4M3, F8_E5M2) converted to fp32.
  std::vector<float> read_f32(std::string_view name) const;
  // The same into a caller's buffer (for example a slice of a flat parameter buffer), which
  // must hold exactly numel floats.
  void read_f32(std::string_view name, std::span<float> out) const;
  // Loads a tensor into an engine tensor (fp32 or bf16) after checking that the shapes are
  // equal: "PATH: tensor 'x' has shape [a, b] but [c, d] is expected". Floating-point data is
  // converted as needed (to bf16 with round-to-nearest-even). This is how weights are loaded
  // into the model's parameter buffers.
  void read_into(std::string_view name, const TensorView& dst) const;
  // Integer tensors (I8..I64, U8..U64, BOOL) converted to int32; throws when a value does not
  // fit (token ids and labels are int32 in the engine).
  std::vector<std::int32_t> read_i32(std::string_view name) const;

 private:
  void parse_header(std::uint64_t header_len);
  const TensorEntry& typed_entry(std::string_view name, StDType want) const;
  void copy_bytes(const TensorEntry& e, void* out) const;
  void release();

  std::filesystem::path path_;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  const std::byte* data_ = nullptr;  // first byte after the header
  std::uint64_t data_size_ = 0;
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace primus::io
