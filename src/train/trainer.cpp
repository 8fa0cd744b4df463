#include "train/trainer.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "kernels/grad_norm.hpp"
#include "train/auxiliary_losses.hpp"
#include "train/flops.hpp"
#include "train/training_logging.hpp"

namespace primus::train {

struct Trainer::Logging {
  TrainingLogging log;
};

namespace {

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace

Trainer::Trainer(const config::ResolvedConfig& config)
    : args_(config.args),
      config_(config),
      data_(build_training_data(config.args)),
      scheduler_(LrScheduler::from_args(config.args)) {
  const config::Args& a = args_;
  if (a.world_size != 1)
    fail("this engine runs on one process so far; got world size {} (data parallelism is not built yet)", a.world_size);
  model::ModelConfig mc = model::ModelConfig::from_args(a, data_.vocab_size);
  model_ = std::make_unique<model::GPTModel>(mc, a.micro_batch_size, model::RecomputePlan::from_args(a));
  model_->initialize(static_cast<std::uint64_t>(a.seed));
  optimizer_ = std::make_unique<Optimizer>(OptimizerConfig::from_args(a), *model_);
  const bool wrap = a.dataloader_type.value_or("single") == "cyclic";
  train_loader_ = std::make_unique<MicroBatchLoader>(*data_.dataset(Split::kTrain), a.micro_batch_size, wrap);
  if (const auto* valid = data_.dataset(Split::kValid))
    valid_loader_ = std::make_unique<MicroBatchLoader>(*valid, a.micro_batch_size, /*wrap=*/true);
  const auto n = static_cast<size_t>(a.global_batch_size * a.seq_length);
  tokens_.resize(n);
  labels_.resize(n);
  loss_mask_.resize(n);
  logging_ = std::make_unique<Logging>(Logging{TrainingLogging(config, *model_, data_.vocab_size)});
}

Trainer::~Trainer() = default;

IterationResult Trainer::train_step() {
  const config::Args& a = args_;
  const double start = monotonic_seconds();
  const std::int64_t mbs = a.micro_batch_size, seq = a.seq_length, per_micro = mbs * seq;
  // Megatron's objective: each micro-batch's masked token mean, averaged over the micro-batches
  // (the gradient); the logged lm loss is the token mean over the whole global batch.
  model_->zero_grads();
  double loss_sum = 0.0, mask_total = 0.0;
  for (std::int64_t m = 0; m < a.num_micro_batches; ++m) {
    std::int32_t* tokens = tokens_.data() + m * per_micro;
    std::int32_t* labels = labels_.data() + m * per_micro;
    float* mask = loss_mask_.data() + m * per_micro;
    train_loader_->load(consumed_samples_ + m * mbs, tokens, labels, mask);
    double mask_sum = 0.0;
    for (std::int64_t i = 0; i < per_micro; ++i) mask_sum += mask[i];
    const float weight = mask_sum > 0 ? static_cast<float>(1.0 / (mask_sum * static_cast<double>(a.num_micro_batches))) : 0.0f;
    model::MicroBatchState state;
    state.aux_loss_scale = static_cast<float>(1.0 / static_cast<double>(a.num_micro_batches));
    loss_sum += model_->forward_backward(model::MicroBatch{tokens, labels, mask}, weight, state);
    mask_total += mask_sum;
  }
  IterationResult r;
  r.iteration = ++iteration_;
  r.lm_loss = mask_total > 0 ? loss_sum / mask_total : 0.0;
  r.aux_losses = finish_auxiliary_losses(*model_, a, a.num_micro_batches);
  kernels::GradSpan all{model_->grads(), model_->num_params()};
  r.grad_norm = kernels::clip_grad_norm({&all, 1}, static_cast<float>(a.clip_grad));
  if (a.check_for_nan_in_loss_and_grad && (!std::isfinite(r.lm_loss) || !std::isfinite(r.grad_norm)))
    fail("iteration {}: the loss ({}) or the gradient norm ({}) is not finite; stopping (check_for_nan_in_loss_and_grad)",
         r.iteration, r.lm_loss, r.grad_norm);
  optimizer_->step(scheduler_.lr(consumed_samples_), scheduler_.weight_decay(consumed_samples_));
  consumed_samples_ += a.global_batch_size;
  r.learning_rate = scheduler_.lr(consumed_samples_);
  r.seconds = monotonic_seconds() - start;
  return r;
}

std::optional<EvalResult> Trainer::evaluate() {
  const config::Args& a = args_;
  if (!valid_loader_ || a.eval_iters <= 0) return std::nullopt;
  const std::int64_t mbs = a.micro_batch_size, per_micro = mbs * a.seq_length;
  double loss_sum = 0.0, mask_total = 0.0;
  for (std::int64_t it = 0; it < a.eval_iters; ++it) {
    for (std::int64_t m = 0; m < a.num_micro_batches; ++m) {
      valid_loader_->load(consumed_valid_samples_, tokens_.data(), labels_.data(), loss_mask_.data());
      consumed_valid_samples_ += mbs;
      for (std::int64_t i = 0; i < per_micro; ++i) mask_total += loss_mask_[static_cast<size_t>(i)];
      loss_sum += model_->forward_loss(model::MicroBatch{tokens_.data(), labels_.data(), loss_mask_.data()});
    }
  }
  EvalResult r;
  r.iteration = iteration_;
  r.lm_loss = mask_total > 0 ? loss_sum / mask_total : 0.0;
  r.ppl = std::exp(std::min(20.0, r.lm_loss));  // Megatron caps the exponent at 20
  return r;
}

TrainingSummary Trainer::run() {
  const config::Args& a = args_;
  TrainingLogging& log = logging_->log;
  log.start();
  TrainingSummary summary;
  const double start = monotonic_seconds();
  std::vector<double> token_rates;
  const std::int64_t train_iters = *a.train_iters;
  while (iteration_ < train_iters) {
    IterationResult r = train_step();
    if (r.iteration == 1) summary.first_loss = r.lm_loss;
    summary.last_loss = r.lm_loss;
    if (r.iteration > a.log_avg_skip_iterations)
      token_rates.push_back(static_cast<double>(a.global_batch_size * a.seq_length) / r.seconds);
    log.iteration(r, consumed_samples_);
    const bool last = iteration_ == train_iters;
    if (a.eval_iters > 0 && (iteration_ % a.eval_interval == 0 || last))
      if (auto e = evaluate()) {
        log.validation(*e);
        summary.evals.push_back(*e);
      }
    if (a.exit_interval && *a.exit_interval > 0 && iteration_ % *a.exit_interval == 0) {
      log.note(fmt::format("exiting at iteration {} (exit_interval {})", iteration_, *a.exit_interval));
      break;
    }
  }
  summary.iterations = iteration_;
  summary.seconds = monotonic_seconds() - start;
  if (!token_rates.empty()) {
    std::sort(token_rates.begin(), token_rates.end());
    summary.tokens_per_second = token_rates[token_rates.size() / 2];
  }
  const double flops = flops_per_iteration(a, model_->config().padded_vocab);
  const double tokens_per_iteration = static_cast<double>(a.global_batch_size * a.seq_length);
  if (summary.tokens_per_second > 0)
    summary.tflops_per_device = tflops_per_device(flops, tokens_per_iteration / summary.tokens_per_second, a.world_size);
  summary.peak_rss_bytes = peak_rss_bytes();
  log.finish(summary, consumed_samples_);
  return summary;
}

}  // namespace primus::train
