#include "train/training_logging.hpp"

#include <ctime>

#include "config/experiment_file.hpp"
#include "core/threads.hpp"
#include "train/auxiliary_losses.hpp"
#include "train/flops.hpp"

namespace primus::train {

namespace {

std::vector<std::string> loss_names(const config::Args& args) {
  std::vector<std::string> names{"lm loss"};
  for (auto& n : auxiliary_loss_names(args)) names.push_back(std::move(n));
  return names;
}

}  // namespace

TrainingLogging::TrainingLogging(const config::ResolvedConfig& config, const model::PipelineStage& model,
                                 std::int64_t vocab_size, const LoggingRank& rank)
    : config_(config),
      args_(config.args),
      model_(model),
      vocab_size_(vocab_size),
      paths_(create_run_folder(config.args)),
      log_(make_run_logger(config.args, paths_, RunLoggerOptions{rank.rank, rank.world, "pre_trainer", rank.prints})),
      line_(IterationLog::options_from_args(config.args,
                                            flops_per_iteration(config.args, 1, model.config().padded_vocab))),
      loss_names_(loss_names(config.args)),
      totals_(loss_names_) {
  if (!args_.disable_tensorboard && rank.prints) tensorboard_ = std::make_unique<TensorBoardWriter>(paths_.tensorboard);
}

void TrainingLogging::start() {
  const model::ModelConfig& c = model_.config();
  log_->info("experiment {} (model {}), run folder {}", config::display_path(config_.experiment),
             config_.model_preset.empty() ? std::string("none") : config::display_path(config_.model_preset),
             paths_.root.string());
  for (const auto& n : config_.notes) log_->info("note: {}", n);
  if (!config_.without_effect.empty()) {
    std::string keys;
    for (const auto& k : config_.without_effect) keys += (keys.empty() ? "" : ", ") + k;
    log_->info("accepted, no effect on this engine: {}", keys);
  }
  log_->info("model: {} layers, hidden {}, ffn {}, {} heads / {} query groups, vocab {} (padded {}), {} parameters, "
             "{} GEMMs, {} threads",
             c.num_layers, c.hidden, c.ffn, c.heads, c.groups, vocab_size_, c.padded_vocab, model_.parameter_count(),
             c.bf16 ? "bf16" : "fp32", num_threads());
  const std::string split =
      args_.data_parallel_size > 1
          ? fmt::format("{} data-parallel ranks × {} micro-batches of {}", args_.data_parallel_size,
                        args_.num_micro_batches, args_.micro_batch_size)
          : fmt::format("{} micro-batches of {}", args_.num_micro_batches, args_.micro_batch_size);
  log_->info("training: {} iterations of global batch {} ({}) × {} tokens, memory planned: {:.2f} GiB",
             *args_.train_iters, args_.global_batch_size, split, args_.seq_length,
             static_cast<double>(model_.arena_bytes()) / (1 << 30));
}

void TrainingLogging::iteration(const IterationResult& r, std::int64_t consumed_samples) {
  losses_.assign(1, r.lm_loss);
  losses_.insert(losses_.end(), r.aux_losses.begin(), r.aux_losses.end());
  totals_.add_iteration(losses_, r.skipped);
  interval_seconds_ += r.seconds;
  if (tensorboard_) {
    tensorboard_->add_scalar("lm loss", r.lm_loss, r.iteration);
    for (size_t i = 0; i < r.aux_losses.size() && i + 1 < loss_names_.size(); ++i)
      tensorboard_->add_scalar(loss_names_[i + 1], r.aux_losses[i], r.iteration);
    tensorboard_->add_scalar("learning-rate", r.learning_rate, r.iteration);
    if (!r.skipped) tensorboard_->add_scalar("grad-norm", r.grad_norm, r.iteration);
    tensorboard_->add_scalar("batch-size", static_cast<double>(args_.global_batch_size), r.iteration);
    tensorboard_->add_scalar("lm loss vs samples", r.lm_loss, consumed_samples);
  }
  if (r.iteration % args_.log_interval != 0 && r.iteration != *args_.train_iters) return;
  IterationLogEntry e;
  e.iteration = r.iteration;
  e.train_iters = *args_.train_iters;
  e.consumed_samples = consumed_samples;
  e.seconds_per_iteration = interval_seconds_ / static_cast<double>(totals_.iterations());
  e.learning_rate = r.learning_rate;
  e.global_batch_size = args_.global_batch_size;
  e.losses = totals_.averages();
  // Megatron prints no grad norm for a skipped step (the optimizer returned none).
  if (!r.skipped) e.grad_norm = r.grad_norm;
  e.skipped_iterations = totals_.skipped_iterations();
  e.nan_iterations = totals_.nan_iterations();
  log_->info("{}", line_.line(e, std::time(nullptr)));
  if (tensorboard_) {
    tensorboard_->add_scalar("iteration-time", e.seconds_per_iteration, r.iteration);
    tensorboard_->add_scalar("throughput", line_.last_tflops_per_device(), r.iteration);
    tensorboard_->flush();
  }
  totals_.reset();
  interval_seconds_ = 0.0;
}

void TrainingLogging::validation(const EvalResult& r) {
  const LossValue loss[1] = {{"lm loss", r.lm_loss}};
  ValidationReport report = format_validation(validation_where(r.iteration), loss);
  log_->info("{}", report.rule());
  log_->info("{}", report.text);
  log_->info("{}", report.rule());
  last_validation_ = r.lm_loss;
  if (tensorboard_) {
    tensorboard_->add_scalar("lm loss validation", r.lm_loss, r.iteration);
    tensorboard_->add_scalar("lm loss validation ppl", r.ppl, r.iteration);
    tensorboard_->flush();
  }
}

void TrainingLogging::note(const std::string& message) { log_->info("{}", message); }

void TrainingLogging::finish(const TrainingSummary& s, std::int64_t consumed_samples) {
  FinalSummary f;
  f.iterations = s.iterations;
  f.consumed_samples = consumed_samples;
  f.seconds = s.seconds;
  f.tokens_per_second_per_device = s.tokens_per_second / static_cast<double>(args_.world_size);
  f.tflops_per_device = s.tflops_per_device;
  f.peak_rss_bytes = s.peak_rss_bytes;
  f.first_loss = s.first_loss;
  f.last_loss = s.last_loss;
  f.validation_loss = last_validation_;
  log_->info("{}", format_final_summary(f));
  if (tensorboard_) tensorboard_->flush();
  log_->flush();
}

}  // namespace primus::train
