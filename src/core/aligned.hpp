// 64-byte aligned memory: one cache line / one AVX-512 register, so vector loads never split
// lines. Two tools:
//  * AlignedBuffer<T>: an owning, move-only array (for one-off buffers outside hot paths).
//  * Arena: llm.c-style "plan, allocate once, carve": callers reserve every buffer up front,
//    then one allocation backs them all. Pages are touched once at allocation (in parallel, by
//    the threads that will use them) so that no hot loop pays the first-touch page fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/memory_budget.hpp"

namespace primus {

inline constexpr std::size_t kAlign = 64;

// Rounds bytes up to a multiple of kAlign.
constexpr std::size_t align_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Allocates `bytes` (rounded up to kAlign) aligned to kAlign; throws primus::Error when out of
// memory. bytes == 0 returns nullptr. Free with aligned_free.
void* aligned_alloc_bytes(std::size_t bytes);
void aligned_free(void* p) noexcept;
// Writes zeros over [p, p+bytes) with all OpenMP threads (first touch happens here).
void parallel_zero(void* p, std::size_t bytes);

// Owning aligned array of trivially-copyable T, zero-initialised.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n)
      : data_(static_cast<T*>(aligned_alloc_bytes(n * sizeof(T)))), size_(n) {
    parallel_zero(data_, n * sizeof(T));
  }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      aligned_free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { aligned_free(data_); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// One allocation carved into many 64-byte aligned buffers.
//
//   Arena arena;
//   auto w  = arena.reserve<float>(n_params);      // planning: offsets only
//   auto ws = arena.reserve<float>(workspace_elems);
//   arena.allocate();                              // one zeroed, pre-faulted block
//   float* wp = arena.get(w);
//
// reserve() after allocate() throws; get() before allocate() throws.
class Arena {
 public:
  // A reserved slice: byte offset into the arena and element count.
  template <typename T>
  struct Slot {
    std::size_t offset = 0;
    std::size_t count = 0;
  };

  Arena() = default;
  Arena(Arena&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)),
        reserved_(std::exchange(o.reserved_, 0)),
        done_(std::exchange(o.done_, false)) {}
  Arena& operator=(Arena&& o) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() { aligned_free(base_); }

  template <typename T>
  Slot<T> reserve(std::size_t count) {
    if (count > SIZE_MAX / sizeof(T)) return Slot<T>{reserve_bytes(SIZE_MAX), count};  // refused there
    return Slot<T>{reserve_bytes(count * sizeof(T)), count};
  }
  // Reserves `bytes` (rounded up to 64) and returns the offset.
  std::size_t reserve_bytes(std::size_t bytes);
  // Allocates and zeroes the block for everything reserved so far, after the installed memory
  // check (core/memory_budget.hpp) agreed; `parts` labels what the bytes hold, for its message.
  void allocate(const std::vector<MemoryPlanItem>& parts = {});

  bool allocated() const { return done_; }
  std::size_t bytes() const { return reserved_; }

  template <typename T>
  T* get(Slot<T> s) {
    return reinterpret_cast<T*>(at(s.offset));
  }
  std::byte* at(std::size_t offset);

 private:
  std::byte* base_ = nullptr;
  std::size_t reserved_ = 0;
  bool done_ = false;
};

}  // namespace primus
