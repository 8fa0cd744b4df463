// Reads tests/fixtures/kernels/<name>.bin written by
// tools/reference/kernels/make_kernel_fixtures.py (format described there), and the error
// measure the kernel tests use.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace primus::test {

struct FixtureTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> f32;
  std::vector<std::int32_t> i32;
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(PRIMUS_SOURCE_DIR) + "/tests/fixtures/kernels/" + name + ".bin";
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("missing fixture " + path);
    char magic[8];
    in.read(magic, 8);
    if (std::memcmp(magic, "PRIMFIX1", 8) != 0) throw std::runtime_error("bad fixture " + path);
    const auto count = read<std::uint32_t>(in);
    for (std::uint32_t i = 0; i < count; ++i) {
      std::string key(read<std::uint32_t>(in), '\0');
      in.read(key.data(), static_cast<std::streamsize>(key.size()));
      const auto dtype = read<std::uint8_t>(in);
      const auto ndim = read<std::uint32_t>(in);
      FixtureTensor t;
      for (std::uint32_t d = 0; d < ndim; ++d) t.shape.push_back(read<std::int64_t>(in));
      if (dtype == 0) {
        t.f32.resize(static_cast<std::size_t>(t.numel()));
        in.read(reinterpret_cast<char*>(t.f32.data()), static_cast<std::streamsize>(4 * t.f32.size()));
      } else {
        t.i32.resize(static_cast<std::size_t>(t.numel()));
        in.read(reinterpret_cast<char*>(t.i32.data()), static_cast<std::streamsize>(4 * t.i32.size()));
      }
      if (!in) throw std::runtime_error("truncated fixture " + path);
      tensors_[key] = std::move(t);
    }
  }
  const FixtureTensor& operator[](const std::string& key) const {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) throw std::runtime_error("fixture has no tensor " + key);
    return it->second;
  }
  std::vector<float> f(const std::string& key) const { return (*this)[key].f32; }
  std::vector<std::int32_t> i(const std::string& key) const { return (*this)[key].i32; }
  std::int64_t dim(const std::string& key, int d) const { return (*this)[key].shape.at(d); }

 private:
  template <typename T>
  static T read(std::ifstream& in) {
    T v{};
    in.read(reinterpret_cast<char*>(&v), sizeof(T));
    return v;
  }
  std::map<std::string, FixtureTensor> tensors_;
};

// ||got - want|| / max(||want||, tiny) over the first n elements.
inline double rel_l2(const float* got, const float* want, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}
inline double rel_l2(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  return rel_l2(got.data(), want.data(), std::min(got.size(), want.size()));
}

}  // namespace primus::test
