#include "data/npy_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <charconv>
#include <unistd.h>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "data/mapped_file.hpp"

namespace primus::data {
namespace {

constexpr char kMagic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kAlign = 64;
constexpr std::size_t kGrowthAxisMaxDigits = 21;

std::size_t descr_size(const std::string& descr) {
  if (descr == "<i2") return 2;
  if (descr == "<i4" || descr == "<u4") return 4;
  if (descr == "<i8") return 8;
  if (descr == "|u1" || descr == "|i1") return 1;
  if (descr == "<u2") return 2;
  if (descr == "<u8") return 8;
  return 0;
}

}  // namespace

std::string npy_header(const std::string& descr, const std::vector<std::int64_t>& shape) {
  std::string shape_repr = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) shape_repr += ", ";
    shape_repr += std::to_string(shape[i]);
  }
  if (shape.size() == 1) shape_repr += ",";
  shape_repr += ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_repr + ", }";
  // numpy leaves room for the first axis to grow to 21 digits without rewriting the file.
  if (!shape.empty()) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const std::size_t prefix = sizeof(kMagic) + 2 + 2;  // magic, version, u16 length
  const std::size_t hlen = dict.size() + 1;           // + newline
  const std::size_t pad = kAlign - ((prefix + hlen) % kAlign);
  std::string header(kMagic, sizeof(kMagic));
  header.push_back('\x01');
  header.push_back('\x00');
  const std::size_t total = hlen + pad;  // numpy pads by 1..64, never 0
  header.push_back(static_cast<char>(total & 0xff));
  header.push_back(static_cast<char>((total >> 8) & 0xff));
  header += dict;
  header.append(pad, ' ');
  header.push_back('\n');
  return header;
}

void write_npy_raw(const std::string& path, const std::string& descr,
                   const std::vector<std::int64_t>& shape, const void* data, std::size_t bytes) {
  // Several ranks may build the same index cache at once: each writes its own temporary file.
  io::AtomicFile file(path, /*durable=*/false);
  file.write(npy_header(descr, shape));
  if (bytes > 0) file.write(data, bytes);
  file.commit();
}

std::int64_t NpyArray::size() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<std::int64_t> NpyArray::as_int64() const {
  const std::size_t item = descr_size(descr);
  std::vector<std::int64_t> out(static_cast<std::size_t>(size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint8_t* p = bytes.data() + i * item;
    if (descr == "<i2") { std::int16_t v; std::memcpy(&v, p, 2); out[i] = v; }
    else if (descr == "<u2") { std::uint16_t v; std::memcpy(&v, p, 2); out[i] = v; }
    else if (descr == "<i4") { std::int32_t v; std::memcpy(&v, p, 4); out[i] = v; }
    else if (descr == "<u4") { std::uint32_t v; std::memcpy(&v, p, 4); out[i] = v; }
    else if (descr == "<i8") { std::int64_t v; std::memcpy(&v, p, 8); out[i] = v; }
    else if (descr == "<u8") { std::uint64_t v; std::memcpy(&v, p, 8); out[i] = static_cast<std::int64_t>(v); }
    else if (descr == "|u1") { out[i] = p[0]; }
    else { out[i] = static_cast<std::int8_t>(p[0]); }
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  MappedFile file(path);
  const std::uint8_t* p = file.data();
  if (file.size() < 10 || std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    fail("{}: not a .npy file (bad magic)", path);
  }
  std::size_t hlen = 0, start = 0;
  if (p[6] == 1) {
    hlen = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8);
    start = 10;
  } else if (p[6] == 2 || p[6] == 3) {
    if (file.size() < 12) fail("{}: truncated .npy header", path);
    hlen = static_cast<std::size_t>(p[8]) | (static_cast<std::size_t>(p[9]) << 8) |
           (static_cast<std::size_t>(p[10]) << 16) | (static_cast<std::size_t>(p[11]) << 24);
    start = 12;
  } else {
    fail("{}: unsupported .npy version {}", path, static_cast<int>(p[6]));
  }
  if (start + hlen > file.size()) fail("{}: truncated .npy header", path);
  const std::string header(reinterpret_cast<const char*>(p + start), hlen);
  // The header is a Python dict literal; find each key and read its value by hand.
  auto value_after = [&](const std::string& key) -> std::size_t {
    const std::size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) fail("{}: .npy header has no '{}'", path, key);
    std::size_t v = header.find(':', k);
    if (v == std::string::npos) fail("{}: malformed .npy header", path);
    ++v;
    while (v < header.size() && header[v] == ' ') ++v;
    return v;
  };
  NpyArray a;
  std::size_t v = value_after("descr");
  if (v >= header.size() || header[v] != '\'') fail("{}: malformed .npy descr", path);
  const std::size_t descr_end = header.find('\'', v + 1);
  if (descr_end == std::string::npos) fail("{}: malformed .npy descr", path);
  a.descr = header.substr(v + 1, descr_end - v - 1);
  if (descr_size(a.descr) == 0) {
    fail("{}: unsupported .npy dtype '{}' (expected an integer array)", path, a.descr);
  }
  v = value_after("fortran_order");
  if (header.compare(v, 5, "False") != 0) fail("{}: .npy array is not C-ordered", path);
  v = value_after("shape");
  if (v >= header.size() || header[v] != '(') fail("{}: malformed .npy shape", path);
  const std::size_t shape_end = header.find(')', v);
  if (shape_end == std::string::npos) fail("{}: malformed .npy shape", path);
  const std::string dims = header.substr(v + 1, shape_end - v - 1);
  std::size_t pos = 0;
  while (pos < dims.size()) {
    const std::size_t comma = dims.find(',', pos);
    std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    tok.erase(0, tok.find_first_not_of(' '));
    tok.erase(tok.find_last_not_of(' ') + 1);
    if (!tok.empty()) {
      std::int64_t d = 0;
      const auto res = std::from_chars(tok.data(), tok.data() + tok.size(), d);
      if (res.ec != std::errc() || res.ptr != tok.data() + tok.size() || d < 0) {
        fail("{}: malformed .npy shape '({})'", path, dims);
      }
      a.shape.push_back(d);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // The element count is checked as it is multiplied: a corrupt shape must not wrap around.
  std::int64_t count = 1, total = 0;
  for (const std::int64_t d : a.shape)
    if (__builtin_mul_overflow(count, d, &count) ||
        __builtin_mul_overflow(count, static_cast<std::int64_t>(descr_size(a.descr)), &total))
      fail("{}: .npy shape '({})' is too large", path, dims);
  const std::size_t bytes = static_cast<std::size_t>(count) * descr_size(a.descr);
  if (start + hlen + bytes != file.size()) {
    fail("{}: .npy holds {} data bytes, its header promises {}", path, file.size() - start - hlen,
         bytes);
  }
  a.bytes.assign(p + start + hlen, p + start + hlen + bytes);
  return a;
}

}  // namespace primus::data
