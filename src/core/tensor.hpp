// A non-owning view of a dense, row-major array: pointer + shape + dtype. Memory belongs to an
// Arena or AlignedBuffer; kernels take raw pointers and sizes (their signatures document the
// layout), and TensorView is the convenience modules use to carry those around.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace primus {

class TensorView {
 public:
  static constexpr int kMaxDims = 6;

  TensorView() = default;
  TensorView(void* data, DType dtype, std::initializer_list<std::int64_t> shape)
      : data_(data), dtype_(dtype) {
    if (shape.size() > kMaxDims) fail("internal: TensorView supports at most {} dims", kMaxDims);
    for (std::int64_t d : shape) {
      if (d < 0) fail("internal: negative TensorView dimension {}", d);
      shape_[ndim_++] = d;
    }
  }
  TensorView(float* data, std::initializer_list<std::int64_t> shape)
      : TensorView(static_cast<void*>(data), DType::F32, shape) {}
  TensorView(bf16* data, std::initializer_list<std::int64_t> shape)
      : TensorView(static_cast<void*>(data), DType::BF16, shape) {}

  void* data() const { return data_; }
  DType dtype() const { return dtype_; }
  int ndim() const { return ndim_; }
  std::int64_t size(int dim) const {
    if (dim < 0) dim += ndim_;
    if (dim < 0 || dim >= ndim_) fail("internal: TensorView dim {} out of range ({})", dim, ndim_);
    return shape_[dim];
  }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= shape_[i];
    return n;
  }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

  // Typed access; throws when the dtype does not match.
  float* f32() const {
    if (dtype_ != DType::F32) fail("internal: tensor is {}, not fp32", dtype_name(dtype_));
    return static_cast<float*>(data_);
  }
  bf16* bf16_ptr() const {
    if (dtype_ != DType::BF16) fail("internal: tensor is {}, not bf16", dtype_name(dtype_));
    return static_cast<bf16*>(data_);
  }

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::F32;
  int ndim_ = 0;
  std::array<std::int64_t, kMaxDims> shape_{};
};

}  // namespace primus
