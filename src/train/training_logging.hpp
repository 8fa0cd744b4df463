// Everything a training run tells the user, in Megatron/Primus form: the run folder and its log
// files, a start-up summary, the iteration line every log_interval (cur/avg time, TFLOP/s and
// tokens/s per device), validation reports, TensorBoard scalars when enabled, and the final
// summary line.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "config/resolved_config.hpp"
#include "model/gpt_model.hpp"
#include "train/iteration_log.hpp"
#include "train/run_logger.hpp"
#include "train/tensorboard_writer.hpp"
#include "train/training_results.hpp"

namespace primus::train {

// Which process logs: every rank writes its own files (logs/<module>/rank-<r>/); only the last
// rank prints to stderr and writes TensorBoard (Megatron prints the iteration line from the last
// rank; its values are reduced over all ranks).
struct LoggingRank {
  int rank = 0, world = 1;
  bool prints = true;
};

class TrainingLogging {
 public:
  TrainingLogging(const config::ResolvedConfig& config, const model::PipelineStage& model, std::int64_t vocab_size,
                  const LoggingRank& rank = LoggingRank{});

  void start();
  void iteration(const IterationResult& result, std::int64_t consumed_samples);
  void validation(const EvalResult& result);
  void note(const std::string& message);
  void finish(const TrainingSummary& summary, std::int64_t consumed_samples);

  const RunPaths& paths() const { return paths_; }

 private:
  const config::ResolvedConfig& config_;
  const config::Args& args_;
  const model::PipelineStage& model_;
  std::int64_t vocab_size_;
  RunPaths paths_;
  std::shared_ptr<spdlog::logger> log_;
  IterationLog line_;
  std::vector<std::string> loss_names_;  // "lm loss", then auxiliary_loss_names(args)
  LogIntervalTotals totals_;
  std::vector<double> losses_;           // one iteration's values, reused
  std::unique_ptr<TensorBoardWriter> tensorboard_;
  double interval_seconds_ = 0.0;
  std::optional<double> last_validation_;
};

}  // namespace primus::train
