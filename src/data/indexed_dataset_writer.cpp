#include "data/indexed_dataset_writer.hpp"

#include <cstring>
#include <limits>
#include <type_traits>

#include "core/error.hpp"
#include "data/indexed_dataset_reader.hpp"

namespace primus::data {
namespace {

template <typename T>
void put(std::vector<std::uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace

IndexedDatasetWriter::IndexedDatasetWriter(const std::string& prefix, TokenDType dtype)
    : prefix_(prefix), dtype_(dtype), bin_(std::make_unique<io::AtomicFile>(prefix + ".bin")) {}

IndexedDatasetWriter::~IndexedDatasetWriter() = default;

template <typename In>
void IndexedDatasetWriter::add_impl(std::span<const In> tokens) {
  if (finalized_) fail("{}: dataset already finalized", prefix_);
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    fail("{}: sequence of {} tokens exceeds the int32 length field", prefix_, tokens.size());
  }
  const std::size_t item = dtype_size(dtype_);
  buffer_.resize(tokens.size() * item);
  auto convert = [&](auto tag) {
    using T = decltype(tag);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const In v = tokens[i];
      if constexpr (std::is_integral_v<T>) {
        if (static_cast<std::int64_t>(v) < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            (static_cast<std::int64_t>(v) >= 0 &&
             static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
          fail("{}: token id {} does not fit the dataset dtype {}", prefix_,
               static_cast<std::int64_t>(v), dtype_name(dtype_));
        }
      }
      const T t = static_cast<T>(v);
      std::memcpy(buffer_.data() + i * sizeof(T), &t, sizeof(T));
    }
  };
  switch (dtype_) {
    case TokenDType::kUInt8: convert(std::uint8_t{}); break;
    case TokenDType::kInt8: convert(std::int8_t{}); break;
    case TokenDType::kInt16: convert(std::int16_t{}); break;
    case TokenDType::kInt32: convert(std::int32_t{}); break;
    case TokenDType::kInt64: convert(std::int64_t{}); break;
    case TokenDType::kFloat64: convert(double{}); break;
    case TokenDType::kFloat32: convert(float{}); break;
    case TokenDType::kUInt16: convert(std::uint16_t{}); break;
  }
  bin_->write(buffer_.data(), buffer_.size());
  lengths_.push_back(static_cast<std::int32_t>(tokens.size()));
  tokens_ += static_cast<std::int64_t>(tokens.size());
}

void IndexedDatasetWriter::add_sequence(std::span<const std::int64_t> tokens) { add_impl(tokens); }
void IndexedDatasetWriter::add_sequence(std::span<const std::int32_t> tokens) { add_impl(tokens); }

void IndexedDatasetWriter::end_document() {
  documents_.push_back(static_cast<std::int64_t>(lengths_.size()));
}

void IndexedDatasetWriter::add_document(std::span<const std::int32_t> tokens) {
  add_sequence(tokens);
  end_document();
}

void IndexedDatasetWriter::add_dataset(const std::string& prefix) {
  IndexedDatasetReader other(prefix);
  if (other.dtype() != dtype_) {
    fail("{}: dtype {} differs from the dataset being written ({}: {})", prefix,
         dtype_name(other.dtype()), prefix_, dtype_name(dtype_));
  }
  std::vector<std::int64_t> tokens;
  const std::int64_t base = static_cast<std::int64_t>(lengths_.size());
  for (std::int64_t s = 0; s < other.sequence_count(); ++s) {
    tokens.resize(static_cast<std::size_t>(other.sequence_lengths()[static_cast<std::size_t>(s)]));
    other.read(s, 0, -1, tokens.data());
    add_sequence(tokens);
  }
  const auto docs = other.document_indices();
  for (std::size_t i = 1; i < docs.size(); ++i) documents_.push_back(base + docs[i]);
}

void IndexedDatasetWriter::finalize() {
  if (finalized_) return;
  std::vector<std::uint8_t> idx;
  const std::uint64_t n = lengths_.size();
  idx.reserve(34 + n * 12 + documents_.size() * 8);
  const char magic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
  idx.insert(idx.end(), magic, magic + 9);
  put<std::uint64_t>(idx, 1);
  put<std::uint8_t>(idx, static_cast<std::uint8_t>(dtype_));
  put<std::uint64_t>(idx, n);
  put<std::uint64_t>(idx, documents_.size());
  for (auto len : lengths_) put<std::int32_t>(idx, len);
  const auto item = static_cast<std::int64_t>(dtype_size(dtype_));
  std::int64_t pointer = 0;
  for (auto len : lengths_) {
    put<std::int64_t>(idx, pointer);
    pointer += len * item;
  }
  for (auto d : documents_) put<std::int64_t>(idx, d);
  io::AtomicFile index(prefix_ + ".idx");
  index.write(idx.data(), idx.size());
  // The data first: readers open PREFIX.idx and check PREFIX.bin's size against it.
  bin_->commit();
  index.commit();
  finalized_ = true;
}

}  // namespace primus::data
