// The text a Megatron/Primus run prints while it trains, byte for byte where users parse it:
//
//  * the iteration line every log_interval (megatron-formats.md §3), in Megatron's field order and
//    number formats, with Primus' "cur/avg" pairs for time, TFLOP/s and tokens/s;
//  * the validation block (a dash rule, " validation loss at ... | lm loss value: ... | lm loss
//    PPL: ... | ", the rule again);
//  * a final summary line (ours: Megatron prints none).
//
// Written from reading Megatron-LM's training_log / evaluate_and_print_results and Primus'
// MegatronTrainer.training_log (not copied). Widths and formats, as upstream prints them:
//   iteration {:8d}/{:8d} | consumed samples: {:12d} | elapsed time per iteration (ms): {:.1f}/{:.1f}
//   | throughput per device (TFLOP/s/device): {:.1f}/{:.1f} | tokens per device (tokens/s/device):
//   {:.1f}/{:.1f} | learning rate: {:.6E} | global batch size: {:5d} | lm loss: {:.6E} | loss scale:
//   {:.1f} | grad norm: {:.3f} | [num zeros: {:.1f} |] [params norm: {:.3f} |] number of skipped
//   iterations: {:3d} | number of nan iterations: {:3d} |
// Differences from the GPU original, all deliberate: "per GPU"/"TFLOP/s/GPU"/"tokens/s/GPU" read
// "per device"/"TFLOP/s/device"/"tokens/s/device" (the field order is unchanged); Primus' HIP/ROCm
// memory fields are not printed (no GPU). Megatron prefixes " [YYYY-MM-DD HH:MM:SS]" (local time;
// Primus drops it because its logger stamps every line) — optional here, on by default. As in
// Megatron, the throughput and tokens fields appear only with log_throughput, and a loss is printed
// only when its interval average is > 0 (Primus' rule).
//
// Per-iteration cost: IterationLog formats into a buffer it keeps, so after the first call a
// line costs no allocation; RecentAverage's window is reserved once.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/args.hpp"

namespace primus::train {

// Primus' running average of the last few logged values ("avg" in "cur/avg"). At each log
// call: the window is cleared when the iteration is log_avg_skip_iterations + 1 (so the slow first
// iterations are dropped — this only fires when a log falls on that iteration, i.e. when
// log_interval divides it) or when it already holds log_avg_reset_interval entries; then the new
// value is appended and the mean of the window is returned.
class RecentAverage {
 public:
  RecentAverage(int64_t skip_iterations, int64_t reset_interval);
  // Records the value logged at `iteration` (1-based); returns the window's mean including it.
  double add(int64_t iteration, double value);
  std::size_t size() const { return window_.size(); }

 private:
  int64_t skip_iterations_;
  int64_t reset_interval_;
  std::vector<double> window_;
};

// One named loss of the interval ("lm loss", and any auxiliary loss the model reports).
struct LossValue {
  std::string_view name;
  double value = 0.0;
};

// Megatron's per-interval bookkeeping (its total_loss_dict): an iteration either advances
// (its losses are summed) or is skipped (e.g. an fp16 overflow; its losses are only checked for
// NaN/inf). At log time losses are averaged over the advanced iterations and time over all.
class LogIntervalTotals {
 public:
  // `loss_names` fixes the losses tracked, in print order (e.g. {"lm loss"}).
  explicit LogIntervalTotals(std::vector<std::string> loss_names);
  // losses[i] belongs to loss_names[i]; size must match.
  void add_iteration(std::span<const double> losses, bool skipped);
  int64_t advanced_iterations() const { return advanced_; }
  int64_t skipped_iterations() const { return skipped_; }
  int64_t nan_iterations() const { return nan_; }
  int64_t iterations() const { return advanced_ + skipped_; }
  // Interval averages, one per loss name: sum / max(1, advanced iterations). Valid until the next
  // call on this object (or its move).
  std::span<const LossValue> averages();
  // Starts a new interval (after the line is printed).
  void reset();

 private:
  std::vector<std::string> names_;
  std::vector<double> sums_;
  std::vector<LossValue> averages_;
  int64_t advanced_ = 0, skipped_ = 0, nan_ = 0;
};

// What the iteration line reports for one log interval.
struct IterationLogEntry {
  int64_t iteration = 0;              // the iteration just finished (1-based)
  int64_t train_iters = 0;            // total planned
  int64_t consumed_samples = 0;       // samples consumed so far
  double seconds_per_iteration = 0;   // wall time of the interval / iterations in it
  double learning_rate = 0;
  int64_t global_batch_size = 0;
  std::span<const LossValue> losses;  // interval averages, print order
  double loss_scale = 1.0;
  std::optional<double> grad_norm;
  std::optional<double> num_zeros_in_grad;
  std::optional<double> params_norm;
  int64_t skipped_iterations = 0;     // in this interval
  int64_t nan_iterations = 0;         // in this interval
};

struct IterationLogOptions {
  int64_t log_avg_skip_iterations = 2;
  int64_t log_avg_reset_interval = 10;
  bool log_throughput = true;    // print TFLOP/s and tokens/s
  double flops_per_sample = 0;   // model FLOPs of one sequence, forward + backward (flops.hpp)
  int64_t seq_length = 0;        // tokens per sample
  int64_t world_size = 1;        // devices sharing the batch
  bool timestamp = true;         // Megatron's " [YYYY-MM-DD HH:MM:SS]" prefix
};

class IterationLog {
 public:
  explicit IterationLog(const IterationLogOptions& options);
  // log_avg_*, log_throughput, seq_length and world_size from args; flops_per_sample from the caller
  // (flops_per_iteration(args, 1, padded_vocab)).
  static IterationLogOptions options_from_args(const config::Args& args, double flops_per_sample);

  // Formats the line for the interval ending at entry.iteration and advances the cur/avg windows
  // (call exactly once per logged interval). `now` stamps the line (local time). The view stays
  // valid until the next call.
  std::string_view line(const IterationLogEntry& entry, std::time_t now);

  // The "cur" values of the last line (also for TensorBoard).
  double last_tflops_per_device() const { return last_tflops_; }
  double last_tokens_per_second_per_device() const { return last_tokens_; }

 private:
  IterationLogOptions opt_;
  RecentAverage times_ms_, tflops_, tokens_;
  fmt::memory_buffer buf_;
  double last_tflops_ = 0, last_tokens_ = 0;
};

// " [YYYY-MM-DD HH:MM:SS]" for `now` in local time, as Megatron's datetime.now() prints it.
std::string format_timestamp(std::time_t now);

// Megatron's validation report. `where` is "iteration N" during training, "iteration N on
// validation set" / "iteration N on test set" after it (see validation_where). text is
//   " validation loss at {where} | {name} value: {:.6E} | {name} PPL: {:.6E} | "
// (PPL = exp(min(20, value))), and rule() is the '-' line printed above and below it, one longer.
struct ValidationReport {
  std::string text;
  std::string rule() const { return std::string(text.size() + 1, '-'); }
};
ValidationReport format_validation(std::string_view where, std::span<const LossValue> losses);
// "iteration N", or "iteration N on <split> set" when split is "validation" or "test".
std::string validation_where(int64_t iteration, std::string_view split = {});

// The closing line of a run (no Megatron counterpart; same " key: value |" style):
//   " training summary | iterations: 50 | consumed samples: 800 | elapsed time (s): 12.3 |
//     tokens per device (tokens/s/device): 1650.0 | throughput per device (TFLOP/s/device): 0.123 |
//     [model FLOP utilization: 28.0 % |] peak memory (RSS): 1.23 GiB |
//     [lm loss first/last: 1.000000E+01/5.000000E+00 |] [validation lm loss: 5.100000E+00 |]"
struct FinalSummary {
  int64_t iterations = 0;
  int64_t consumed_samples = 0;
  double seconds = 0;                        // wall time of the training loop
  double tokens_per_second_per_device = 0;
  double tflops_per_device = 0;
  std::optional<double> peak_tflops_per_device;  // for model FLOP utilization
  int64_t peak_rss_bytes = 0;
  std::optional<double> first_loss, last_loss;
  std::optional<double> validation_loss;
};
std::string format_final_summary(const FinalSummary& summary);

}  // namespace primus::train
