#include "core/aligned.hpp"

#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "core/memory_budget.hpp"

namespace primus {

void* aligned_alloc_bytes(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(kAlign, align_up(bytes));
  if (p == nullptr) fail("out of memory allocating {} bytes (64-byte aligned)", bytes);
  return p;
}

void aligned_free(void* p) noexcept { std::free(p); }

void parallel_zero(void* p, std::size_t bytes) {
  if (p == nullptr || bytes == 0) return;
  auto* b = static_cast<std::byte*>(p);
  // Small blocks: one thread; large: each thread zeroes (and so first-touches) its own share.
  if (bytes < (std::size_t{1} << 20)) {
    std::memset(b, 0, bytes);
    return;
  }
#pragma omp parallel
  {
    const std::size_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::size_t lo = bytes * t / nt, hi = bytes * (t + 1) / nt;
    std::memset(b + lo, 0, hi - lo);
  }
}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    aligned_free(base_);
    base_ = std::exchange(o.base_, nullptr);
    reserved_ = std::exchange(o.reserved_, 0);
    done_ = std::exchange(o.done_, false);
  }
  return *this;
}

std::size_t Arena::reserve_bytes(std::size_t bytes) {
  if (done_) fail("internal: Arena::reserve after allocate (reserve every buffer first)");
  const std::size_t offset = reserved_;
  // A plan past the address space is a configuration far too large, not a wrapped-around size.
  if (bytes > SIZE_MAX - kAlign || align_up(bytes) > SIZE_MAX - reserved_)
    fail("the memory plan exceeds the address space (micro_batch_size, seq_length or the model's sizes are far too large)");
  reserved_ += align_up(bytes);
  return offset;
}

void Arena::allocate(const std::vector<MemoryPlanItem>& parts) {
  if (done_) fail("internal: Arena::allocate called twice");
  AllocationCheckScope::before_allocation(reserved_, parts);  // a run's memory plan vs the machine
  base_ = static_cast<std::byte*>(aligned_alloc_bytes(reserved_));
  parallel_zero(base_, reserved_);
  done_ = true;
}

std::byte* Arena::at(std::size_t offset) {
  if (!done_) fail("internal: Arena::get before allocate");
  if (offset > reserved_) fail("internal: Arena offset {} beyond {} bytes", offset, reserved_);
  return base_ + offset;
}

}  // namespace primus
