#include "data/indexed_dataset_reader.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace primus::data {
namespace {

constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr std::size_t kHeaderSize = 34;

template <typename T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

IndexedDatasetReader::IndexedDatasetReader(const std::string& prefix)
    : prefix_(prefix), idx_path_(prefix + ".idx"), bin_path_(prefix + ".bin") {
  MappedFile idx(idx_path_);
  const std::uint8_t* p = idx.data();
  const std::size_t n = idx.size();
  if (n < kHeaderSize) {
    fail("{}: truncated index: {} bytes, the header alone needs {}", idx_path_, n, kHeaderSize);
  }
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    fail("{}: not a Megatron indexed dataset index (magic is not MMIDIDX)", idx_path_);
  }
  const auto version = load<std::uint64_t>(p + 9);
  if (version != 1) fail("{}: unsupported index version {} (expected 1)", idx_path_, version);
  const std::uint8_t code = p[17];
  if (!is_valid_dtype_code(code)) fail("{}: unknown dtype code {} (expected 1..8)", idx_path_, code);
  dtype_ = static_cast<TokenDType>(code);
  const auto seq_count = load<std::uint64_t>(p + 18);
  const auto doc_count = load<std::uint64_t>(p + 26);
  // Sizes are checked in 128-bit-safe steps: counts come from an untrusted file.
  const std::uint64_t limit = n;
  if (seq_count > limit || doc_count > limit || doc_count == 0) {
    fail("{}: corrupt header: sequence_count={} document_count={} for a {}-byte file", idx_path_,
         seq_count, doc_count, n);
  }
  const std::uint64_t body = seq_count * 12 + doc_count * 8;
  const std::uint64_t expected = kHeaderSize + body;
  if (n != expected && n != expected + seq_count) {
    fail("{}: size {} bytes does not match its header (sequence_count={}, document_count={}: "
         "expected {} bytes{})",
         idx_path_, n, seq_count, doc_count, expected,
         seq_count > 0 ? fmt::format(" or {} with modes", expected + seq_count) : "");
  }
  lengths_.resize(seq_count);
  pointers_.resize(seq_count);
  documents_.resize(doc_count);
  std::size_t off = kHeaderSize;
  if (seq_count > 0) std::memcpy(lengths_.data(), p + off, seq_count * 4);
  off += seq_count * 4;
  if (seq_count > 0) std::memcpy(pointers_.data(), p + off, seq_count * 8);
  off += seq_count * 8;
  std::memcpy(documents_.data(), p + off, doc_count * 8);
  off += doc_count * 8;
  if (n == expected + seq_count && seq_count > 0) {
    modes_.resize(seq_count);
    std::memcpy(modes_.data(), p + off, seq_count);
  }

  const std::int64_t item = static_cast<std::int64_t>(dtype_size(dtype_));
  std::int64_t expected_pointer = 0;
  for (std::size_t i = 0; i < seq_count; ++i) {
    if (lengths_[i] < 0) fail("{}: sequence {} has negative length {}", idx_path_, i, lengths_[i]);
    if (pointers_[i] != expected_pointer) {
      fail("{}: sequence {} starts at byte {} but the lengths before it add up to byte {}",
           idx_path_, i, pointers_[i], expected_pointer);
    }
    expected_pointer += lengths_[i] * item;
    total_tokens_ += lengths_[i];
  }
  if (documents_.front() != 0) {
    fail("{}: document boundaries must start at 0, found {}", idx_path_, documents_.front());
  }
  for (std::size_t i = 1; i < documents_.size(); ++i) {
    if (documents_[i] < documents_[i - 1]) {
      fail("{}: document boundaries decrease at entry {} ({} after {})", idx_path_, i,
           documents_[i], documents_[i - 1]);
    }
  }
  if (documents_.back() != static_cast<std::int64_t>(seq_count)) {
    fail("{}: last document boundary is {} but there are {} sequences", idx_path_,
         documents_.back(), seq_count);
  }

  bin_ = MappedFile(bin_path_);
  if (static_cast<std::int64_t>(bin_.size()) != expected_pointer) {
    fail("{}: {} bytes, but {} says the tokens take {} bytes ({} tokens of {})", bin_path_,
         bin_.size(), idx_path_, expected_pointer, total_tokens_, dtype_name(dtype_));
  }
}

template <typename Out>
std::int64_t IndexedDatasetReader::read_impl(std::int64_t seq, std::int64_t offset,
                                             std::int64_t length, Out* out) const {
  if (seq < 0 || seq >= sequence_count()) {
    fail("{}: sequence {} out of range [0, {})", bin_path_, seq, sequence_count());
  }
  const std::int64_t len = lengths_[static_cast<std::size_t>(seq)];
  if (length < 0) length = len - offset;
  if (offset < 0 || length < 0 || offset + length > len) {
    fail("{}: tokens [{}, {}) out of range of sequence {} (length {})", bin_path_, offset,
         offset + length, seq, len);
  }
  const std::uint8_t* base =
      bin_.data() + pointers_[static_cast<std::size_t>(seq)] +
      offset * static_cast<std::int64_t>(dtype_size(dtype_));
  auto copy = [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t i = 0; i < length; ++i) {
      T v;
      std::memcpy(&v, base + i * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
      if constexpr (std::is_floating_point_v<T>) {
        // Float datasets hold token ids as floats: each must be a whole number the output holds
        // (2^63 itself is not an int64; every smaller double is).
        const double d = static_cast<double>(v);
        if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(std::numeric_limits<Out>::min()) ||
            d >= -static_cast<double>(std::numeric_limits<Out>::min())) {
          fail("{}: token value {} of sequence {} is not a whole number that fits in {}", bin_path_, d, seq,
               sizeof(Out) == 4 ? "int32" : "int64");
        }
      } else if constexpr (std::is_same_v<Out, std::int32_t> && sizeof(T) == 8) {
        if (v < static_cast<T>(std::numeric_limits<std::int32_t>::min()) ||
            v > static_cast<T>(std::numeric_limits<std::int32_t>::max())) {
          fail("{}: token value {} of sequence {} does not fit in int32", bin_path_,
               static_cast<double>(v), seq);
        }
      }
      out[i] = static_cast<Out>(v);
    }
  };
  switch (dtype_) {
    case TokenDType::kUInt8: copy(std::uint8_t{}); break;
    case TokenDType::kInt8: copy(std::int8_t{}); break;
    case TokenDType::kInt16: copy(std::int16_t{}); break;
    case TokenDType::kInt32: copy(std::int32_t{}); break;
    case TokenDType::kInt64: copy(std::int64_t{}); break;
    case TokenDType::kFloat64: copy(double{}); break;
    case TokenDType::kFloat32: copy(float{}); break;
    case TokenDType::kUInt16: copy(std::uint16_t{}); break;
  }
  return length;
}

std::int64_t IndexedDatasetReader::read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                                        std::int64_t* out) const {
  return read_impl(seq, offset, length, out);
}

std::int64_t IndexedDatasetReader::read(std::int64_t seq, std::int64_t offset, std::int64_t length,
                                        std::int32_t* out) const {
  return read_impl(seq, offset, length, out);
}

std::vector<std::int64_t> IndexedDatasetReader::sequence(std::int64_t seq) const {
  if (seq < 0 || seq >= sequence_count()) {
    fail("{}: sequence {} out of range [0, {})", bin_path_, seq, sequence_count());
  }
  std::vector<std::int64_t> out(static_cast<std::size_t>(lengths_[static_cast<std::size_t>(seq)]));
  read(seq, 0, -1, out.data());
  return out;
}

}  // namespace primus::data
