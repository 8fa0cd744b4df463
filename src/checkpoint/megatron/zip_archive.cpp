#include "checkpoint/megatron/zip_archive.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/input_file.hpp"

namespace primus::checkpoint::megatron {

namespace {

constexpr std::uint32_t kLocal = 0x04034b50, kCentral = 0x02014b50, kEnd = 0x06054b50, kEnd64 = 0x06064b50,
                        kLocator64 = 0x07064b50;
constexpr std::uint64_t k32 = 0xFFFFFFFFull;
constexpr std::uint64_t kAlign = 64;

void put16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get(const std::byte* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

}  // namespace

ZipWriter::ZipWriter(const std::filesystem::path& path) : file_(path, /*durable=*/true) {}
ZipWriter::~ZipWriter() = default;

void ZipWriter::raw(const void* data, std::size_t bytes) {
  file_.write(data, bytes);
  at_ += bytes;
}

static std::uint32_t crc32_of(const void* data, std::uint64_t bytes) {
  std::uint32_t crc = 0;
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {  // zlib's crc32 takes 32-bit lengths
    const auto n = static_cast<uInt>(std::min<std::uint64_t>(bytes, 1u << 30));
    crc = static_cast<std::uint32_t>(crc32(crc, p, n));
    p += n;
    bytes -= n;
  }
  return crc;
}

void ZipWriter::add(const std::string& name, const void* data, std::uint64_t bytes) {
  Entry e;
  e.name = name;
  e.offset = at_;
  e.size = bytes;
  e.crc = crc32_of(data, bytes);
  const bool zip64 = bytes >= k32;
  std::string h;
  put32(h, kLocal);
  put16(h, zip64 ? 45 : 20);  // version needed
  put16(h, 1 << 11);          // UTF-8 names
  put16(h, 0);                // stored
  put16(h, 0);
  put16(h, 0x21);  // DOS date 1980-01-01: reproducible archives
  put32(h, e.crc);
  put32(h, zip64 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(bytes));
  put32(h, zip64 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(bytes));
  put16(h, static_cast<std::uint16_t>(name.size()));
  std::string extra;
  if (zip64) {
    put16(extra, 0x0001);
    put16(extra, 16);
    put64(extra, bytes);
    put64(extra, bytes);
  }
  // Pad with an "FB" field so that the data starts at a multiple of 64 (PyTorch's layout).
  const std::uint64_t before = at_ + h.size() + 2 + name.size() + extra.size() + 4;
  const std::uint64_t pad = (kAlign - before % kAlign) % kAlign;
  put16(extra, 0x4246);
  put16(extra, static_cast<std::uint16_t>(pad));
  extra.append(pad, 'Z');
  put16(h, static_cast<std::uint16_t>(extra.size()));
  h += name;
  h += extra;
  raw(h.data(), h.size());
  raw(data, static_cast<std::size_t>(bytes));
  entries_.push_back(e);
}

void ZipWriter::finish() {
  const std::uint64_t cd_start = at_;
  for (const Entry& e : entries_) {
    const bool zip64 = e.size >= k32 || e.offset >= k32;
    std::string c;
    put32(c, kCentral);
    put16(c, zip64 ? 45 : 20);  // made by
    put16(c, zip64 ? 45 : 20);  // needed
    put16(c, 1 << 11);
    put16(c, 0);
    put16(c, 0);
    put16(c, 0x21);
    put32(c, e.crc);
    put32(c, e.size >= k32 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.size));
    put32(c, e.size >= k32 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.size));
    put16(c, static_cast<std::uint16_t>(e.name.size()));
    std::string extra;
    if (zip64) {
      put16(extra, 0x0001);
      std::string body;
      if (e.size >= k32) {
        put64(body, e.size);
        put64(body, e.size);
      }
      if (e.offset >= k32) put64(body, e.offset);
      put16(extra, static_cast<std::uint16_t>(body.size()));
      extra += body;
    }
    put16(c, static_cast<std::uint16_t>(extra.size()));
    put16(c, 0);  // comment
    put16(c, 0);  // disk
    put16(c, 0);  // internal attributes
    put32(c, 0);  // external attributes
    put32(c, e.offset >= k32 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.offset));
    c += e.name;
    c += extra;
    raw(c.data(), c.size());
  }
  const std::uint64_t cd_size = at_ - cd_start, count = entries_.size();
  const bool zip64 = cd_start >= k32 || cd_size >= k32 || count >= 0xFFFF ||
                     std::any_of(entries_.begin(), entries_.end(), [](const Entry& e) { return e.size >= k32 || e.offset >= k32; });
  std::string t;
  if (zip64) {
    const std::uint64_t end64 = at_;
    put32(t, kEnd64);
    put64(t, 44);
    put16(t, 45);
    put16(t, 45);
    put32(t, 0);
    put32(t, 0);
    put64(t, count);
    put64(t, count);
    put64(t, cd_size);
    put64(t, cd_start);
    put32(t, kLocator64);
    put32(t, 0);
    put64(t, end64);
    put32(t, 1);
  }
  put32(t, kEnd);
  put16(t, 0);
  put16(t, 0);
  put16(t, static_cast<std::uint16_t>(std::min<std::uint64_t>(count, 0xFFFF)));
  put16(t, static_cast<std::uint16_t>(std::min<std::uint64_t>(count, 0xFFFF)));
  put32(t, static_cast<std::uint32_t>(std::min<std::uint64_t>(cd_size, k32)));
  put32(t, static_cast<std::uint32_t>(std::min<std::uint64_t>(cd_start, k32)));
  put16(t, 0);
  raw(t.data(), t.size());
  file_.commit();
}

ZipReader::ZipReader(const std::filesystem::path& path) : path_(path) {
  check_input_file(path, "checkpoint file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}", describe_file_error(path, errno, "checkpoint file"));
  struct stat st {};
  ::fstat(fd, &st);
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 22) {
    ::close(fd);
    fail("{}: {} bytes is too short for a zip archive (torch.save format): truncated?", path.string(), size_);
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail("{}: cannot map the file: {}", path.string(), std::strerror(errno));
  }
  const auto* b = static_cast<const std::byte*>(map_);
  auto bad = [&](const std::string& what) { fail("{}: not a readable torch.save archive ({})", path.string(), what); };
  // End of central directory: the last signature within the final 64 KiB + 22 bytes.
  std::int64_t end = -1;
  for (std::int64_t i = static_cast<std::int64_t>(size_) - 22; i >= 0 && i >= static_cast<std::int64_t>(size_) - 65557; --i)
    if (get(b + i, 4) == kEnd) {
      end = i;
      break;
    }
  if (end < 0) bad("no end-of-central-directory record: truncated or not a zip file");
  std::uint64_t count = get(b + end + 10, 2), cd_size = get(b + end + 12, 4), cd_start = get(b + end + 16, 4);
  if (end >= 20 && get(b + end - 20, 4) == kLocator64) {
    const std::uint64_t e64 = get(b + end - 20 + 8, 8);
    if (e64 + 56 > size_ || get(b + e64, 4) != kEnd64) bad("bad ZIP64 end record");
    count = get(b + e64 + 32, 8);
    cd_size = get(b + e64 + 40, 8);
    cd_start = get(b + e64 + 48, 8);
  }
  if (cd_start > size_ || cd_size > size_ - cd_start) bad("central directory outside the file: truncated");
  std::uint64_t at = cd_start;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (at + 46 > cd_start + cd_size || get(b + at, 4) != kCentral) bad("damaged central directory");
    const auto method = get(b + at + 10, 2);
    Entry e;
    e.crc = static_cast<std::uint32_t>(get(b + at + 16, 4));
    std::uint64_t csize = get(b + at + 20, 4), usize = get(b + at + 24, 4);
    const auto nlen = get(b + at + 28, 2), xlen = get(b + at + 30, 2), clen = get(b + at + 32, 2);
    std::uint64_t local = get(b + at + 42, 4);
    if (at + 46 + nlen + xlen + clen > cd_start + cd_size) bad("damaged central directory");
    const std::string name(reinterpret_cast<const char*>(b + at + 46), nlen);
    // ZIP64 extra field: the 0xFFFFFFFF values, in order.
    for (std::uint64_t x = at + 46 + nlen; x + 4 <= at + 46 + nlen + xlen;) {
      const auto id = get(b + x, 2), len = get(b + x + 2, 2);
      if (id == 0x0001) {
        std::uint64_t y = x + 4;
        if (usize == k32) usize = get(b + y, 8), y += 8;
        if (csize == k32) csize = get(b + y, 8), y += 8;
        if (local == k32) local = get(b + y, 8), y += 8;
      }
      x += 4 + len;
    }
    if (method != 0) bad(fmt::format("entry '{}' is compressed (method {}); torch.save stores entries", name, method));
    if (csize != usize) bad(fmt::format("entry '{}' has inconsistent sizes", name));
    if (local + 30 > size_ || get(b + local, 4) != kLocal) bad(fmt::format("entry '{}' has no local header: truncated?", name));
    e.data = local + 30 + get(b + local + 26, 2) + get(b + local + 28, 2);
    e.size = usize;
    if (e.data > size_ || e.size > size_ - e.data) bad(fmt::format("entry '{}' runs past the end of the file: truncated", name));
    entries_[name] = e;
    at += 46 + nlen + xlen + clen;
  }
}

ZipReader::~ZipReader() {
  if (map_) ::munmap(map_, size_);
}

std::vector<std::string> ZipReader::names() const {
  std::vector<std::string> out;
  for (const auto& [n, e] : entries_) out.push_back(n);
  return out;
}

std::span<const std::byte> ZipReader::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail("{}: the archive has no entry '{}'", path_.string(), name);
  const Entry& e = it->second;
  const auto* p = static_cast<const std::byte*>(map_) + e.data;
  if (!e.checked) {
    if (crc32_of(p, e.size) != e.crc) fail("{}: entry '{}' fails its CRC-32 check: the file is corrupt", path_.string(), name);
    e.checked = true;
  }
  return {p, static_cast<std::size_t>(e.size)};
}

}  // namespace primus::checkpoint::megatron
