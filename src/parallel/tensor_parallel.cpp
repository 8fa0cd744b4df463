#include "parallel/tensor_parallel.hpp"

#include <cstring>

#include "core/error.hpp"

namespace primus::parallel {

namespace {

void check_split(const Communicator& tp, std::int64_t seq) {
  if (seq % tp.size() != 0)
    fail("internal: sequence {} not divisible by the tensor-parallel size {}", seq, tp.size());
}

}  // namespace

void tp_all_reduce(Communicator& tp, float* x, std::int64_t n) {
  if (tp.size() > 1) tp.allreduce(x, n);
}

void sequence_all_gather(Communicator& tp, const float* local, float* full, std::int64_t B, std::int64_t S,
                         std::int64_t H, float* staging) {
  const std::int64_t t = tp.size();
  if (t == 1) {
    if (full != local) std::memcpy(full, local, static_cast<size_t>(B * S * H) * sizeof(float));
    return;
  }
  check_split(tp, S);
  const std::int64_t sl = S / t, chunk = B * sl * H;
  std::memcpy(staging + tp.rank() * chunk, local, static_cast<size_t>(chunk) * sizeof(float));
  tp.allgather(staging, chunk);
  // staging [t][b][s/t][h] -> full [b][t·s/t][h]
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t r = 0; r < t; ++r)
    for (std::int64_t b = 0; b < B; ++b)
      std::memcpy(full + (b * S + r * sl) * H, staging + (r * B + b) * sl * H, static_cast<size_t>(sl * H) * sizeof(float));
}

void sequence_reduce_scatter(Communicator& tp, const float* full, float* local, std::int64_t B, std::int64_t S,
                             std::int64_t H, float* staging) {
  const std::int64_t t = tp.size();
  if (t == 1) {
    if (full != local) std::memcpy(local, full, static_cast<size_t>(B * S * H) * sizeof(float));
    return;
  }
  check_split(tp, S);
  const std::int64_t sl = S / t, chunk = B * sl * H;
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t r = 0; r < t; ++r)
    for (std::int64_t b = 0; b < B; ++b)
      std::memcpy(staging + (r * B + b) * sl * H, full + (b * S + r * sl) * H, static_cast<size_t>(sl * H) * sizeof(float));
  tp.reduce_scatter(staging, chunk);
  std::memcpy(local, staging, static_cast<size_t>(chunk) * sizeof(float));
}

void sequence_slice(const Communicator& tp, const float* full, float* local, std::int64_t B, std::int64_t S,
                    std::int64_t H) {
  const std::int64_t t = tp.size();
  if (t == 1) {
    if (full != local) std::memcpy(local, full, static_cast<size_t>(B * S * H) * sizeof(float));
    return;
  }
  check_split(tp, S);
  const std::int64_t sl = S / t, r = tp.rank();
  for (std::int64_t b = 0; b < B; ++b)
    std::memcpy(local + b * sl * H, full + (b * S + r * sl) * H, static_cast<size_t>(sl * H) * sizeof(float));
}

}  // namespace primus::parallel
