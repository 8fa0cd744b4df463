// Validation and conversion for SafetensorsReader. The header is parsed with nlohmann::json
// (with a callback that rejects duplicate keys, which a plain parse would silently collapse
// into the last one); the data is never copied until a caller asks for a tensor.
#include "io/safetensors_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/input_file.hpp"

namespace primus::io {

namespace {

using nlohmann::json;

std::uint64_t read_le_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the format and every machine we build for are little-endian
  return v;
}

// Small IEEE-like floats: `exp_bits` exponent bits with the given bias, `man_bits` mantissa
// bits. `ieee_specials`: an all-ones exponent means inf/NaN (F16, F8_E5M2); otherwise only the
// all-ones pattern is NaN and there is no infinity (F8_E4M3, the "fn" variant PyTorch uses).
float decode_small_float(std::uint32_t bits, int exp_bits, int man_bits, int bias,
                         bool ieee_specials) {
  const std::uint32_t man_mask = (1u << man_bits) - 1, exp_max = (1u << exp_bits) - 1;
  const bool negative = (bits >> (exp_bits + man_bits)) & 1u;
  const std::uint32_t exp = (bits >> man_bits) & exp_max, man = bits & man_mask;
  float value;
  if (ieee_specials && exp == exp_max) {
    value = man == 0 ? std::numeric_limits<float>::infinity()
                     : std::numeric_limits<float>::quiet_NaN();
  } else if (!ieee_specials && exp == exp_max && man == man_mask) {
    value = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    value = std::ldexp(static_cast<float>(man), 1 - bias - man_bits);
  } else {
    value = std::ldexp(static_cast<float>(man | (1u << man_bits)),
                       static_cast<int>(exp) - bias - man_bits);
  }
  return negative ? -value : value;
}

// Rejects duplicate keys in any object of the header.
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(const std::string& path) : path_(path) {}
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!keys_.back().insert(key).second)
          fail("{}: header has the key '{}' twice", path_, key);
        break;
      }
      default:
        break;
    }
    return true;
  }

 private:
  const std::string& path_;
  std::vector<std::set<std::string>> keys_;
};

std::uint64_t header_uint(const std::string& path, const std::string& name, const json& v,
                          const char* what) {
  if (!v.is_number_unsigned())
    fail("{}: tensor '{}': {} must hold non-negative integers, found {}", path, name, what,
         v.dump());
  return v.get<std::uint64_t>();
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const json& v) {
  if (!v.is_object())
    fail("{}: tensor '{}': expected an object with dtype, shape and data_offsets, found {}", path,
         name, v.dump());
  for (const auto& [key, _] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail("{}: tensor '{}': unexpected key '{}' (allowed: dtype, shape, data_offsets)", path,
           name, key);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail("{}: tensor '{}': missing '{}'", path, name, key);

  TensorEntry e;
  e.name = name;
  const json& dtype = v["dtype"];
  if (!dtype.is_string()) fail("{}: tensor '{}': dtype must be a string", path, name);
  const auto parsed = parse_st_dtype(dtype.get_ref<const std::string&>());
  if (!parsed)
    fail("{}: tensor '{}': unknown dtype '{}' (expected F32, BF16, F16, F64, I64, I32, I16, I8, "
         "U64, U32, U16, U8, BOOL, F8_E4M3 or F8_E5M2)",
         path, name, dtype.get_ref<const std::string&>());
  e.dtype = *parsed;

  const json& shape = v["shape"];
  if (!shape.is_array()) fail("{}: tensor '{}': shape must be an array", path, name);
  for (const json& d : shape) {
    const std::uint64_t dim = header_uint(path, name, d, "shape");
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail("{}: tensor '{}': dimension {} is too large", path, name, dim);
    e.shape.push_back(static_cast<std::int64_t>(dim));
  }

  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail("{}: tensor '{}': data_offsets must be [begin, end], found {}", path, name,
         offsets.dump());
  e.begin = header_uint(path, name, offsets[0], "data_offsets");
  e.end = header_uint(path, name, offsets[1], "data_offsets");
  if (e.end < e.begin)
    fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", path, name, e.begin,
         e.end);

  const auto numel = checked_numel(e.shape);
  const std::uint64_t item = st_dtype_size(e.dtype);
  if (!numel || static_cast<std::uint64_t>(*numel) > std::numeric_limits<std::uint64_t>::max() / item)
    fail("{}: tensor '{}': shape {} is too large", path, name, shape_string(e.shape));
  const std::uint64_t want = static_cast<std::uint64_t>(*numel) * item;
  if (e.byte_size() != want)
    fail("{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", path,
         name, shape_string(e.shape), st_dtype_name(e.dtype), want, e.begin, e.end,
         e.byte_size());
  return e;
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::filesystem::path& path) : path_(path) {
  const std::string p = path_.string();
  check_input_file(p, "safetensors file");
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(describe_file_error(p, errno, "safetensors file"));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", p, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", p);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail("{}: {} bytes is too small for a safetensors file (it starts with an 8-byte header "
         "length)",
         p, size);
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) fail("{}: cannot map: {}", p, std::strerror(map_err));
  map_ = map;
  map_size_ = size;

  try {
    const auto* base = static_cast<const std::byte*>(map_);
    const std::uint64_t header_len = read_le_u64(base);
    if (header_len > kMaxHeaderBytes)
      fail("{}: header length {} exceeds the {}-byte limit (not a safetensors file?)", p,
           header_len, kMaxHeaderBytes);
    if (header_len > size - 8)
      fail("{}: header length {} runs past the end of the {}-byte file (truncated, or not a "
           "safetensors file)",
           p, header_len, size);
    data_ = base + 8 + header_len;
    data_size_ = size - 8 - header_len;
    parse_header(header_len);
  } catch (...) {
    release();
    throw;
  }
}

void SafetensorsReader::parse_header(std::uint64_t header_len) {
  const std::string p = path_.string();
  const char* text = reinterpret_cast<const char*>(static_cast<const std::byte*>(map_) + 8);
  json header;
  try {
    header = json::parse(text, text + header_len, DuplicateKeyCheck(p));
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON: {}", p, e.what());
  }
  if (!header.is_object()) fail("{}: header must be a JSON object, found {}", p, header.type_name());

  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) fail("{}: {} must be an object of strings", p, kMetadataKey);
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string())
          fail("{}: {} value of '{}' must be a string, found {}", p, kMetadataKey, key,
               text_value.dump());
        metadata_.emplace(key, text_value.get<std::string>());
      }
      continue;
    }
    entries_.push_back(parse_entry(p, name, value));
  }

  // Lay the entries out in file order and check that they tile [0, data_size) exactly.
  std::sort(entries_.begin(), entries_.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& e : entries_) {
    if (e.end > data_size_)
      fail("{}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes; "
           "truncated file?)",
           p, e.name, e.begin, e.end, data_size_);
    if (e.begin < covered)
      fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", p, previous->name,
           previous->begin, previous->end, e.name, e.begin, e.end);
    if (e.begin > covered)
      fail("{}: data bytes [{}, {}) belong to no tensor (tensors must be packed back to back)", p,
           covered, e.begin);
    if (e.end > e.begin) {
      covered = e.end;
      previous = &e;
    }
  }
  if (covered != data_size_)
    fail("{}: {} bytes after the last tensor belong to no tensor", p, data_size_ - covered);

  for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
}

SafetensorsReader::~SafetensorsReader() { release(); }

SafetensorsReader::SafetensorsReader(SafetensorsReader&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      data_size_(std::exchange(other.data_size_, 0)),
      entries_(std::move(other.entries_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsReader& SafetensorsReader::operator=(SafetensorsReader&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    data_size_ = std::exchange(other.data_size_, 0);
    entries_ = std::move(other.entries_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

void SafetensorsReader::release() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
}

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

bool SafetensorsReader::contains(std::string_view name) const {
  return index_.find(name) != index_.end();
}

const TensorEntry& SafetensorsReader::entry(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end())
    fail("{}: no tensor named '{}' (the file has {} tensors)", path_.string(), name,
         entries_.size());
  return entries_[it->second];
}

std::span<const std::byte> SafetensorsReader::bytes(std::string_view name) const {
  const TensorEntry& e = entry(name);
  return {data_ + e.begin, static_cast<std::size_t>(e.byte_size())};
}

const TensorEntry& SafetensorsReader::typed_entry(std::string_view name, StDType want) const {
  const TensorEntry& e = entry(name);
  if (e.dtype != want)
    fail("{}: tensor '{}' is {}, not {}", path_.string(), e.name, st_dtype_name(e.dtype),
         st_dtype_name(want));
  return e;
}

void SafetensorsReader::copy_bytes(const TensorEntry& e, void* out) const {
  if (e.byte_size() > 0) std::memcpy(out, data_ + e.begin, static_cast<std::size_t>(e.byte_size()));
}

std::vector<float> SafetensorsReader::read_f32(std::string_view name) const {
  std::vector<float> out(static_cast<std::size_t>(entry(name).numel()));
  read_f32(name, out);
  return out;
}

void SafetensorsReader::read_f32(std::string_view name, std::span<float> out) const {
  const TensorEntry& e = entry(name);
  const auto n = static_cast<std::size_t>(e.numel());
  if (out.size() != n)
    fail("{}: tensor '{}' has {} elements (shape {}) but the destination holds {}", path_.string(),
         e.name, n, shape_string(e.shape), out.size());
  const std::byte* src = data_ + e.begin;
  switch (e.dtype) {
    case StDType::F32:
      copy_bytes(e, out.data());
      return;
    case StDType::BF16:
      if (reinterpret_cast<std::uintptr_t>(src) % alignof(bf16) == 0) {
        convert_bf16_to_f32(reinterpret_cast<const bf16*>(src), out.data(), n);  // vectorised
      } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = to_f32(load<bf16>(src + 2 * i));
      }
      return;
    case StDType::F16:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = decode_small_float(load<std::uint16_t>(src + 2 * i), 5, 10, 15, true);
      return;
    case StDType::F8_E5M2:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = decode_small_float(static_cast<std::uint32_t>(src[i]), 5, 2, 15, true);
      return;
    case StDType::F8_E4M3:
      for (std::size_t i = 0; i < n; ++i)
        out[i] = decode_small_float(static_cast<std::uint32_t>(src[i]), 4, 3, 7, false);
      return;
    case StDType::F64:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<double>(src + 8 * i));
      return;
    default:
      fail("{}: tensor '{}' is {}, not a floating-point tensor", path_.string(), e.name,
           st_dtype_name(e.dtype));
  }
}

void SafetensorsReader::read_into(std::string_view name, const TensorView& dst) const {
  const TensorEntry& e = entry(name);
  std::vector<std::int64_t> want(static_cast<std::size_t>(dst.ndim()));
  for (int i = 0; i < dst.ndim(); ++i) want[static_cast<std::size_t>(i)] = dst.size(i);
  if (e.shape != want)
    fail("{}: tensor '{}' has shape {} but {} is expected", path_.string(), e.name,
         shape_string(e.shape), shape_string(want));
  const auto n = static_cast<std::size_t>(e.numel());
  if (dst.dtype() == DType::F32) {
    read_f32(name, std::span<float>(dst.f32(), n));
  } else if (e.dtype == StDType::BF16) {
    copy_bytes(e, dst.bf16_ptr());
  } else {
    const std::vector<float> values = read_f32(name);
    convert_f32_to_bf16(values.data(), dst.bf16_ptr(), n);
  }
}

namespace {

template <typename T>
void widen_to_i32(const std::string& path, const TensorEntry& e, const std::byte* src,
                  std::vector<std::int32_t>& out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const T v = load<T>(src + sizeof(T) * i);
    if (!std::in_range<std::int32_t>(v))
      fail("{}: tensor '{}' element {} = {} does not fit in int32", path, e.name, i, v);
    out[i] = static_cast<std::int32_t>(v);
  }
}

}  // namespace

std::vector<std::int32_t> SafetensorsReader::read_i32(std::string_view name) const {
  const TensorEntry& e = entry(name);
  std::vector<std::int32_t> out(static_cast<std::size_t>(e.numel()));
  const std::byte* src = data_ + e.begin;
  const std::string p = path_.string();
  switch (e.dtype) {
    case StDType::I32: copy_bytes(e, out.data()); break;
    case StDType::I64: widen_to_i32<std::int64_t>(p, e, src, out); break;
    case StDType::I16: widen_to_i32<std::int16_t>(p, e, src, out); break;
    case StDType::I8: widen_to_i32<std::int8_t>(p, e, src, out); break;
    case StDType::U64: widen_to_i32<std::uint64_t>(p, e, src, out); break;
    case StDType::U32: widen_to_i32<std::uint32_t>(p, e, src, out); break;
    case StDType::U16: widen_to_i32<std::uint16_t>(p, e, src, out); break;
    case StDType::U8:
    case StDType::BOOL: widen_to_i32<std::uint8_t>(p, e, src, out); break;
    default:
      fail("{}: tensor '{}' is {}, not an integer tensor", p, e.name, st_dtype_name(e.dtype));
  }
  return out;
}

}  // namespace primus::io
