// numpy's .npy format (version 1.0) for the index cache files Megatron writes with numpy.save:
// 1-D and 2-D C-order arrays of int16/int32/uint32/int64. The header is produced exactly as
// numpy writes it (sorted dict, shape repr, spare space for growth, padding to 64 bytes) so that
// our cache files equal Megatron's byte for byte. Hand-written: a 10-line header and raw data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace primus::data {

// dtype descriptors as numpy spells them: "<i2", "<i4", "<u4", "<i8".
template <typename T> constexpr const char* npy_descr();
template <> constexpr const char* npy_descr<std::int16_t>() { return "<i2"; }
template <> constexpr const char* npy_descr<std::int32_t>() { return "<i4"; }
template <> constexpr const char* npy_descr<std::uint32_t>() { return "<u4"; }
template <> constexpr const char* npy_descr<std::int64_t>() { return "<i8"; }

// The full header (magic .. trailing newline) numpy.save writes for this dtype and shape.
std::string npy_header(const std::string& descr, const std::vector<std::int64_t>& shape);

// Writes `data` (row-major, product(shape) elements) to `path`, atomically (temp file + rename).
void write_npy_raw(const std::string& path, const std::string& descr,
                   const std::vector<std::int64_t>& shape, const void* data, std::size_t bytes);

template <typename T>
void write_npy(const std::string& path, const std::vector<T>& data,
               const std::vector<std::int64_t>& shape) {
  write_npy_raw(path, npy_descr<T>(), shape, data.data(), data.size() * sizeof(T));
}

// A loaded array: its descr, shape and raw little-endian bytes.
struct NpyArray {
  std::string descr;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
  std::int64_t size() const;
  // Elements converted to int64 (any of the integer descrs above).
  std::vector<std::int64_t> as_int64() const;
};

// Reads a .npy file; anything but a C-order integer array of a supported dtype is a
// primus::Error naming the file.
NpyArray read_npy(const std::string& path);

}  // namespace primus::data
