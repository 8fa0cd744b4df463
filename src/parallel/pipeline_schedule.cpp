#include "parallel/pipeline_schedule.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"

namespace primus::parallel {

std::vector<PipelineAction> schedule_1f1b(std::int64_t pp, std::int64_t rank, std::int64_t M) {
  if (pp <= 0 || rank < 0 || rank >= pp || M <= 0) fail("internal: 1F1B schedule for rank {} of {} with {} micro-batches", rank, pp, M);
  const std::int64_t warmup = std::min(pp - rank - 1, M), steady = M - warmup;
  std::vector<PipelineAction> out;
  using K = PipelineAction::Kind;
  for (std::int64_t i = 0; i < warmup; ++i) out.push_back({K::Forward, i, 0});
  for (std::int64_t i = 0; i < steady; ++i) {
    out.push_back({K::Forward, warmup + i, 0});
    out.push_back({K::Backward, i, 0});
  }
  for (std::int64_t i = steady; i < M; ++i) out.push_back({K::Backward, i, 0});
  return out;
}

void check_interleaved(std::int64_t pp, std::int64_t M, std::int64_t V, std::int64_t N) {
  if (V < 2) fail("internal: interleaved schedule with {} chunks", V);
  if (N < pp || N > M)
    fail("microbatch_group_size_per_vp_stage {} must lie between pipeline_model_parallel_size {} and the number of "
         "micro-batches {} (global_batch_size / (micro_batch_size × data parallel size))",
         N, pp, M);
  const std::int64_t r = M % N;
  if (r > 0 && r < pp)
    fail("the number of micro-batches {} leaves a last group of {} (microbatch_group_size_per_vp_stage {}), fewer than "
         "pipeline_model_parallel_size {}: the interleaved schedule needs a multiple of the group size, or a remainder "
         ">= the pipeline size",
         M, r, N, pp);
}

std::vector<std::pair<std::int64_t, std::int64_t>> interleaved_table(std::int64_t M, std::int64_t V, std::int64_t N) {
  std::vector<std::pair<std::int64_t, std::int64_t>> table;
  for (std::int64_t first = 0; first < M; first += N) {
    const std::int64_t end = first + N >= M ? M : first + N;  // the last group takes the remainder
    for (std::int64_t chunk = 0; chunk < V; ++chunk)
      for (std::int64_t mb = first; mb < end; ++mb) table.emplace_back(mb, chunk);
  }
  return table;
}

std::vector<PipelineAction> schedule_interleaved(std::int64_t pp, std::int64_t rank, std::int64_t M, std::int64_t V,
                                                 std::int64_t N) {
  check_interleaved(pp, M, V, N);
  const auto table = interleaved_table(M, V, N);
  const std::int64_t total = M * V;
  const std::int64_t warmup = std::min(2 * (pp - rank - 1) + (V - 1) * N, total), steady = total - warmup;
  using K = PipelineAction::Kind;
  auto forward = [&](std::int64_t k) {
    const auto [mb, chunk] = table[static_cast<size_t>(k)];
    return PipelineAction{K::Forward, mb, chunk};
  };
  auto backward = [&](std::int64_t k) {
    const auto [mb, chunk] = table[static_cast<size_t>(k)];
    return PipelineAction{K::Backward, mb, V - 1 - chunk};
  };
  std::vector<PipelineAction> out;
  for (std::int64_t k = 0; k < warmup; ++k) out.push_back(forward(k));
  for (std::int64_t k = 0; k < steady; ++k) {
    out.push_back(forward(k + warmup));
    out.push_back(backward(k));
  }
  for (std::int64_t k = steady; k < total; ++k) out.push_back(backward(k));
  return out;
}

std::int64_t max_in_flight(const std::vector<PipelineAction>& schedule, std::int64_t chunks) {
  std::vector<std::int64_t> alive(static_cast<size_t>(chunks), 0);
  std::int64_t most = 0;
  for (const auto& a : schedule) {
    auto& n = alive[static_cast<size_t>(a.chunk)];
    n += a.kind == PipelineAction::Kind::Forward ? 1 : -1;
    most = std::max(most, n);
  }
  return most;
}

std::string describe(const std::vector<PipelineAction>& schedule) {
  std::string out;
  for (const auto& a : schedule) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{}{}", a.kind == PipelineAction::Kind::Forward ? 'F' : 'B', a.microbatch);
    if (a.chunk) out += fmt::format(".{}", a.chunk);
  }
  return out;
}

}  // namespace primus::parallel
