// Megatron/Primus training log lines; see the header for the formats and their sources.
#include "train/iteration_log.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "core/error.hpp"

namespace primus::train {

namespace {

// Windows longer than this grow on demand instead of reserving up front.
constexpr int64_t kMaxReserved = 1024;

// Writes " [YYYY-MM-DD HH:MM:SS]" (local time) into `text`; returns its length.
std::size_t write_timestamp(std::time_t now, char (&text)[32]) {
  std::tm tm{};
  localtime_r(&now, &tm);
  return std::strftime(text, sizeof text, " [%Y-%m-%d %H:%M:%S]", &tm);
}

}  // namespace

RecentAverage::RecentAverage(int64_t skip_iterations, int64_t reset_interval)
    : skip_iterations_(skip_iterations), reset_interval_(reset_interval) {
  window_.reserve(static_cast<std::size_t>(std::clamp<int64_t>(reset_interval, 1, kMaxReserved)));
}

double RecentAverage::add(int64_t iteration, double value) {
  if (iteration == skip_iterations_ + 1 || static_cast<int64_t>(window_.size()) >= reset_interval_) window_.clear();
  window_.push_back(value);
  double sum = 0.0;
  for (double v : window_) sum += v;
  return sum / static_cast<double>(window_.size());
}

LogIntervalTotals::LogIntervalTotals(std::vector<std::string> loss_names)
    : names_(std::move(loss_names)), sums_(names_.size(), 0.0), averages_(names_.size()) {}

void LogIntervalTotals::add_iteration(std::span<const double> losses, bool skipped) {
  if (losses.size() != names_.size())
    fail("iteration log: {} loss values given for {} tracked losses", losses.size(), names_.size());
  if (!skipped) {
    ++advanced_;
    for (std::size_t i = 0; i < losses.size(); ++i) sums_[i] += losses[i];
    return;
  }
  // A skipped iteration contributes no loss; it counts as a NaN iteration when a loss is NaN/inf.
  ++skipped_;
  bool bad = false;
  for (double v : losses) bad = bad || !std::isfinite(v);
  if (bad) ++nan_;
}

std::span<const LossValue> LogIntervalTotals::averages() {
  const double n = static_cast<double>(std::max<int64_t>(1, advanced_));
  // Names are pointed at here, not in the constructor: a moved object's short strings move too.
  for (std::size_t i = 0; i < sums_.size(); ++i) averages_[i] = LossValue{names_[i], sums_[i] / n};
  return averages_;
}

void LogIntervalTotals::reset() {
  std::fill(sums_.begin(), sums_.end(), 0.0);
  advanced_ = skipped_ = nan_ = 0;
}

IterationLog::IterationLog(const IterationLogOptions& options)
    : opt_(options),
      times_ms_(options.log_avg_skip_iterations, options.log_avg_reset_interval),
      tflops_(options.log_avg_skip_iterations, options.log_avg_reset_interval),
      tokens_(options.log_avg_skip_iterations, options.log_avg_reset_interval) {
  buf_.reserve(640);
}

IterationLogOptions IterationLog::options_from_args(const config::Args& args, double flops_per_sample) {
  IterationLogOptions o;
  o.log_avg_skip_iterations = args.log_avg_skip_iterations;
  o.log_avg_reset_interval = args.log_avg_reset_interval;
  o.log_throughput = args.log_throughput;
  o.flops_per_sample = flops_per_sample;
  o.seq_length = args.seq_length;
  o.world_size = std::max<int64_t>(1, args.world_size);
  return o;
}

std::string format_timestamp(std::time_t now) {
  char text[32];
  const std::size_t n = write_timestamp(now, text);
  return std::string(text, n);
}

std::string_view IterationLog::line(const IterationLogEntry& e, std::time_t now) {
  buf_.clear();
  auto out = std::back_inserter(buf_);
  if (opt_.timestamp) {
    char text[32];
    const std::size_t n = write_timestamp(now, text);
    buf_.append(text, text + n);
  }
  fmt::format_to(out, " iteration {:8d}/{:8d} |", e.iteration, e.train_iters);
  fmt::format_to(out, " consumed samples: {:12d} |", e.consumed_samples);

  const double ms = e.seconds_per_iteration * 1000.0;
  fmt::format_to(out, " elapsed time per iteration (ms): {:.1f}/{:.1f} |", ms, times_ms_.add(e.iteration, ms));

  if (opt_.log_throughput) {
    const double batch = static_cast<double>(e.global_batch_size);
    const double devices = static_cast<double>(opt_.world_size);
    last_tflops_ = opt_.flops_per_sample * batch / (e.seconds_per_iteration * 1e12 * devices);
    const double tflops_avg = tflops_.add(e.iteration, last_tflops_);
    fmt::format_to(out, " throughput per device (TFLOP/s/device): {:.1f}/{:.1f} |", last_tflops_, tflops_avg);
    last_tokens_ = static_cast<double>(opt_.seq_length) * batch / e.seconds_per_iteration / devices;
    const double tokens_avg = tokens_.add(e.iteration, last_tokens_);
    fmt::format_to(out, " tokens per device (tokens/s/device): {:.1f}/{:.1f} |", last_tokens_, tokens_avg);
  }

  fmt::format_to(out, " learning rate: {:.6E} |", e.learning_rate);
  fmt::format_to(out, " global batch size: {:5d} |", e.global_batch_size);
  for (const LossValue& loss : e.losses)
    if (loss.value > 0.0) fmt::format_to(out, " {}: {:.6E} |", loss.name, loss.value);
  fmt::format_to(out, " loss scale: {:.1f} |", e.loss_scale);
  if (e.grad_norm) fmt::format_to(out, " grad norm: {:.3f} |", *e.grad_norm);
  if (e.num_zeros_in_grad) fmt::format_to(out, " num zeros: {:.1f} |", *e.num_zeros_in_grad);
  if (e.params_norm) fmt::format_to(out, " params norm: {:.3f} |", *e.params_norm);
  fmt::format_to(out, " number of skipped iterations: {:3d} |", e.skipped_iterations);
  fmt::format_to(out, " number of nan iterations: {:3d} |", e.nan_iterations);
  return {buf_.data(), buf_.size()};
}

ValidationReport format_validation(std::string_view where, std::span<const LossValue> losses) {
  ValidationReport r;
  r.text = fmt::format(" validation loss at {} | ", where);
  for (const LossValue& loss : losses) {
    const double ppl = std::exp(std::min(20.0, loss.value));
    r.text += fmt::format("{} value: {:.6E} | {} PPL: {:.6E} | ", loss.name, loss.value, loss.name, ppl);
  }
  return r;
}

std::string validation_where(int64_t iteration, std::string_view split) {
  if (split.empty()) return fmt::format("iteration {}", iteration);
  return fmt::format("iteration {} on {} set", iteration, split);
}

std::string format_final_summary(const FinalSummary& s) {
  std::string out = fmt::format(" training summary | iterations: {} | consumed samples: {} | elapsed time (s): {:.1f} |",
                                s.iterations, s.consumed_samples, s.seconds);
  out += fmt::format(" tokens per device (tokens/s/device): {:.1f} |", s.tokens_per_second_per_device);
  out += fmt::format(" throughput per device (TFLOP/s/device): {:.3f} |", s.tflops_per_device);
  if (s.peak_tflops_per_device && *s.peak_tflops_per_device > 0)
    out += fmt::format(" model FLOP utilization: {:.1f} % |", 100.0 * s.tflops_per_device / *s.peak_tflops_per_device);
  out += fmt::format(" peak memory (RSS): {:.2f} GiB |", static_cast<double>(s.peak_rss_bytes) / (1024.0 * 1024.0 * 1024.0));
  if (s.first_loss && s.last_loss)
    out += fmt::format(" lm loss first/last: {:.6E}/{:.6E} |", *s.first_loss, *s.last_loss);
  if (s.validation_loss) out += fmt::format(" validation lm loss: {:.6E} |", *s.validation_loss);
  return out;
}

}  // namespace primus::train
