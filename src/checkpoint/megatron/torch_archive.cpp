#include "checkpoint/megatron/torch_archive.hpp"

#include <cstring>

#include <fmt/format.h>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace primus::checkpoint::megatron {

std::size_t storage_element_size(const std::string& t) {
  if (t == "FloatStorage" || t == "IntStorage") return 4;
  if (t == "BFloat16Storage" || t == "HalfStorage" || t == "ShortStorage") return 2;
  if (t == "DoubleStorage" || t == "LongStorage") return 8;
  if (t == "ByteStorage" || t == "CharStorage" || t == "BoolStorage") return 1;
  return 0;
}

void write_torch_file(const std::filesystem::path& path, const PyValue& root, const std::vector<TorchStorage>& storages) {
  const std::string archive = path.stem().string();
  ZipWriter zip(path);
  const std::string pkl = write_pickle(root);
  zip.add(archive + "/data.pkl", pkl.data(), pkl.size());
  zip.add(archive + "/byteorder", "little", 6);
  for (const TorchStorage& s : storages) zip.add(archive + "/data/" + s.key, s.data, s.bytes);
  zip.add(archive + "/version", "3\n", 2);
  zip.finish();
}

TorchFile::TorchFile(const std::filesystem::path& path) : zip_(path) {
  std::string pkl_name;
  for (const std::string& n : zip_.names())
    if (n.ends_with("/data.pkl") && std::count(n.begin(), n.end(), '/') == 1) pkl_name = n;
  if (pkl_name.empty()) fail("{}: not a torch.save file (no <archive>/data.pkl entry)", path.string());
  prefix_ = pkl_name.substr(0, pkl_name.size() - 8);
  const auto bytes = zip_.entry(pkl_name);
  root_ = read_pickle(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path.string() + ":" + pkl_name);
}

std::vector<float> TorchFile::read_f32(const TensorRef& t) const {
  const std::string name = prefix_ + "data/" + t.key;
  if (!zip_.contains(name)) fail("{}: storage '{}' of a tensor is missing", path().string(), t.key);
  const auto bytes = zip_.entry(name);
  const std::size_t es = storage_element_size(t.storage_type);
  if (es == 0 || (t.storage_type != "FloatStorage" && t.storage_type != "BFloat16Storage" &&
                  t.storage_type != "HalfStorage" && t.storage_type != "DoubleStorage"))
    fail("{}: storage '{}' holds {} values, not floating point weights", path().string(), t.key, t.storage_type);
  const std::uint64_t n_storage = bytes.size() / es;
  std::int64_t numel = 1;
  for (auto d : t.size) numel *= d;
  if (t.size.size() != t.stride.size()) fail("{}: a tensor's size and stride disagree", path().string());
  // The largest element index the view touches must be inside the storage.
  std::int64_t last = t.offset;
  for (std::size_t k = 0; k < t.size.size(); ++k)
    if (t.size[k] > 0) last += (t.size[k] - 1) * t.stride[k];
  if (numel > 0 && (t.offset < 0 || last < 0 || static_cast<std::uint64_t>(last) >= n_storage))
    fail("{}: storage '{}' holds {} values but a tensor views element {}: truncated?", path().string(), t.key, n_storage, last);
  std::vector<float> out(static_cast<std::size_t>(numel));
  auto value = [&](std::uint64_t i) -> float {
    const std::byte* p = bytes.data() + i * es;
    if (t.storage_type == "FloatStorage") {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    if (t.storage_type == "DoubleStorage") {
      double v;
      std::memcpy(&v, p, 8);
      return static_cast<float>(v);
    }
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    if (t.storage_type == "BFloat16Storage") return to_f32(bf16{h});
    // IEEE half.
    const std::uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    float v = exp == 0 ? std::ldexp(static_cast<float>(man), -24)
                       : exp == 31 ? (man ? NAN : INFINITY) : std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
    return sign ? -v : v;
  };
  // Row-major walk over the view.
  std::vector<std::int64_t> idx(t.size.size(), 0);
  for (std::int64_t k = 0; k < numel; ++k) {
    std::int64_t at = t.offset;
    for (std::size_t d = 0; d < idx.size(); ++d) at += idx[d] * t.stride[d];
    out[static_cast<std::size_t>(k)] = value(static_cast<std::uint64_t>(at));
    for (std::size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.size[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace primus::checkpoint::megatron
