#include "train/trainer.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/timer.hpp"
#include "parallel/collective_error.hpp"
#include "parallel/context_parallel.hpp"
#include "parallel/distributed_optimizer.hpp"
#include "parallel/mpi_runtime.hpp"
#include "parallel/pipeline_layout.hpp"
#include "train/auxiliary_losses.hpp"
#include "train/expert_dispatch_report.hpp"
#include "train/flops.hpp"
#include "train/memory_check.hpp"
#include "train/nonfinite_step.hpp"
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

double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

// Pipeline settings this engine does not run, refused with the key that asks for them.
void refuse_unbuilt_pipeline_settings(const config::Args& a) {
  if (a.patch_primus_pipeline && a.pp_algorithm != "1f1b" && a.pp_algorithm != "1f1b-interleaved")
    fail("pp_algorithm '{}' (patch_primus_pipeline): Primus' zero-bubble and V-shape pipeline schedules are not built "
         "in this engine; use pp_algorithm 1f1b or 1f1b-interleaved (Megatron's 1F1B and interleaved 1F1B), or "
         "patch_primus_pipeline: false",
         a.pp_algorithm);
  if (a.patch_zero_bubble && a.enable_zero_bubble)
    fail("patch_zero_bubble with enable_zero_bubble: the zero-bubble pipeline schedules are not built in this engine; "
         "Megatron's 1F1B and interleaved 1F1B are (set patch_zero_bubble: false)");
  if (a.encoder_pipeline_model_parallel_size > 0)
    fail("encoder_pipeline_model_parallel_size {}: encoder pipeline stages (encoder-decoder models) are not built in "
         "this engine; it trains decoder-only GPT models",
         a.encoder_pipeline_model_parallel_size);
  if (a.num_virtual_stages_per_pipeline_rank.value_or(1) > 1 && a.pipeline_model_parallel_size == 1)
    fail("num_virtual_stages_per_pipeline_rank {} needs pipeline_model_parallel_size > 1 (the interleaved schedule "
         "interleaves model chunks over pipeline ranks)",
         *a.num_virtual_stages_per_pipeline_rank);
}

}  // namespace

Trainer::Trainer(const config::ResolvedConfig& config, parallel::ParallelState* state)
    : args_(config.args),
      config_(config),
      own_state_(state ? nullptr : parallel::ParallelState::single_process()),
      state_(state ? *state : *own_state_),
      start_time_(monotonic_seconds()),
      scheduler_(LrScheduler::from_args(config.args)) {
  const config::Args& a = args_;
  if (a.world_size != state_.world_size())
    fail("the configuration was resolved for {} processes but this run has {}; launch it with mpirun -np {}",
         a.world_size, state_.world_size(), a.world_size);
  // Every rank takes this decision from the same arguments.
  refuse_unbuilt_pipeline_settings(a);
  parallel::Communicator& world = state_.world();
  // Megatron builds the datasets (and writes their index caches) on rank 0 first, then elsewhere.
  parallel::run_agreed(
      world, [&] {
        if (state_.rank() == 0) data_ = build_training_data(a);
      },
      /*on_behalf_of_all=*/true);
  parallel::run_agreed(world, [&] {
    if (state_.rank() != 0) data_ = build_training_data(a);
  });

  parallel::run_agreed(world, [&] {
    model::ModelConfig mc = model::ModelConfig::from_args(a, data_.vocab_size);
    const parallel::DdpConfig ddp_config = parallel::DdpConfig::from_args(a);
    // Dense parameters reduce over dp×cp, expert parameters over the expert data-parallel group;
    // the layout pads each region so that the buckets' sizes divide by those groups.
    parallel::Communicator& dp_cp = state_.dp_cp();
    parallel::Communicator& expert_dp = state_.expert_dp();
    // (The alignment does not depend on the bucket size, which ddp_num_buckets derives from the
    // parameter count known only once the model is built.)
    const std::int64_t alignment =
        parallel::ParamAndGradBuffer::region_alignment({dp_cp.size(), expert_dp.size()}, ddp_config.bucket_options(0));
    // The model's arena is checked against the machine's memory before it is allocated.
    const auto memory_check =
        install_memory_check(config, ddp_config.use_distributed_optimizer ? static_cast<int>(dp_cp.size()) : 1);
    // Tensor (and sequence) parallelism: blocks hold their shards and communicate at their boundaries.
    // Context parallelism: attention passes K/V around the cp group (model/context_parallel_attention.hpp).
    const model::ModelParallel model_parallel{&state_.tp(), a.sequence_parallel, &state_.cp(),
                                              &state_.group(parallel::GroupKind::TensorAndContextParallel),
                                              &state_.group(parallel::GroupKind::TensorAndDataParallelWithCp),
                                              &state_.ep(), &state_.group(parallel::GroupKind::ExpertTensorParallel)};
    // Pipeline parallelism: this rank's model chunks (virtual stages) and the schedule's number of
    // micro-batches in flight, which sizes the activation slots.
    const parallel::PipelineSplit split(parallel::PipelineSplitOptions::from_args(a));
    parallel::Communicator& pp = state_.pp();
    const PipelineShape shape{pp.size(), pp.rank(), a.num_micro_batches, split.virtual_stages(),
                              a.microbatch_group_size_per_vp_stage.value_or(pp.size())};
    std::vector<model::StageRange> chunks;
    for (std::int64_t c = 0; c < shape.chunks; ++c) {
      const parallel::StageLayers& s = split.stage(shape.rank, c);
      if (s.mtp_layers > 0 && !s.loss)
        fail("multi-token prediction layers must sit on the stage with the loss (the last pipeline stage)");
      chunks.push_back(model::StageRange{s.first_layer, s.num_layers, s.embedding, s.loss});
    }
    model_ = std::make_unique<model::PipelineStage>(
        mc, a.micro_batch_size, model::RecomputePlan::from_args(a), std::move(chunks), activation_slots(shape), alignment,
        model_parallel, state_.in_group(parallel::GroupKind::Embedding) ? &state_.group(parallel::GroupKind::Embedding) : nullptr);
    pipeline_ = std::make_unique<PipelineExecutor>(*model_, pp, shape);
    const model::ParameterLayout& layout = model_->layout();
    std::vector<parallel::BufferParam> params;
    for (const auto& p : layout.params()) params.push_back({p.offset, p.numel()});
    std::vector<parallel::GradRegion> regions;
    std::vector<parallel::Communicator*> region_groups;
    for (model::ParamGroup g : {model::ParamGroup::Dense, model::ParamGroup::Expert}) {
      if (layout.region_end(g) == layout.region_begin(g)) continue;
      parallel::Communicator& group = g == model::ParamGroup::Dense ? dp_cp : expert_dp;
      regions.push_back({g == model::ParamGroup::Dense ? "dense" : "expert", layout.region_begin(g), layout.region_end(g),
                         group.size()});
      region_groups.push_back(&group);
    }
    buffer_ = std::make_unique<parallel::ParamAndGradBuffer>(std::move(params), std::move(regions), layout.total(),
                                                             ddp_config.bucket_options(layout.total()));
    // Every rank initialises identically from the seed (Megatron without data_parallel_random_init).
    model_->initialize(static_cast<std::uint64_t>(a.seed));
    ddp_ = std::make_unique<parallel::DistributedDataParallel>(ddp_config, *buffer_, region_groups, dp_cp.size(),
                                                               model_->params(), model_->grads(), model_->params_bf16());
    if (ddp_config.overlap_param_gather)
      model_->set_params_needed_hook([this](std::int64_t b, std::int64_t e) { ddp_->params_needed(b, e); });
    // The stage reports gradients final during the step's last micro-batch (MicroBatchState).
    if (ddp_config.overlap_grad_reduce)
      model_->set_grad_ready_hook([this](std::int64_t b, std::int64_t e) { ddp_->grad_ready(b, e); });

    std::vector<OptimizerRange> ranges;
    std::vector<int> dp_ranks;
    for (const parallel::Communicator* g : region_groups) dp_ranks.push_back(g->rank());
    for (const parallel::ParamPiece& piece : parallel::optimizer_pieces(*buffer_, dp_ranks)) {
      const auto& info = model_->layout().params()[static_cast<std::size_t>(piece.param)];
      // Each parameter counts once in the norm over the world (Megatron's clip_grads, whose dense and
      // expert parts reduce over their model-parallel groups): a tensor replicated across the
      // tensor-parallel group (norms, routers) only on tensor-parallel rank 0, and, without the
      // distributed optimizer (whose shards already partition the parameters), only on the first
      // rank of the data-parallel group that reduces it — for experts the expert-data-parallel
      // group, and the expert-tensor-parallel group in place of the tensor-parallel one.
      const parallel::RankCoordinates& at = state_.coordinates();
      const bool expert = info.group == model::ParamGroup::Expert;
      const bool first_replica = ddp_config.use_distributed_optimizer || (expert ? at.expert_dp == 0 : dp_cp.rank() == 0);
      // The last pipeline stage's copy of shared word embeddings counts on the first stage only.
      const bool counted = first_replica && (info.tensor_parallel || (expert ? at.expert_tp : at.tp) == 0) &&
                           !(model_->holds_embedding_copy() && piece.param == model_->embedding_weight());
      ranges.push_back({piece.begin, piece.numel(), info.decay, counted});
    }
    parallel::Communicator& norm_group = world;
    optimizer_ = std::make_unique<Optimizer>(OptimizerConfig::from_args(a), *model_, std::move(ranges), norm_group);

    const bool wrap = a.dataloader_type.value_or("single") == "cyclic";
    train_loader_ = std::make_unique<MicroBatchLoader>(*data_.dataset(Split::kTrain), a.micro_batch_size, wrap,
                                                       data_.vocab_size, "training");
    if (const auto* valid = data_.dataset(Split::kValid))
      valid_loader_ = std::make_unique<MicroBatchLoader>(*valid, a.micro_batch_size, /*wrap=*/true, data_.vocab_size,
                                                         "validation");
    const std::int64_t cp = state_.cp().size();
    const auto n = static_cast<size_t>(a.num_micro_batches * a.micro_batch_size * a.seq_length / cp);
    tokens_.resize(n);
    labels_.resize(n);
    loss_mask_.resize(n);
    if (cp > 1) {
      const auto whole = static_cast<size_t>(a.num_micro_batches * a.micro_batch_size * a.seq_length);
      full_tokens_.resize(whole);
      full_labels_.resize(whole);
      full_mask_.resize(whole);
    }
    LoggingRank rank{state_.rank(), state_.world_size(), state_.is_last_rank()};
    logging_ = std::make_unique<Logging>(Logging{TrainingLogging(config, *model_, data_.vocab_size, rank)});
    checkpointing_ = std::make_unique<Checkpointing>(config, state_, *model_, *optimizer_);
  });
  // Collective with agreed failures of its own.
  loaded_ = checkpointing_->load();
  if (loaded_) {
    const TrainingProgress& p = loaded_->progress;
    iteration_ = p.iteration;
    consumed_samples_ = p.consumed_samples;
    consumed_valid_samples_ = p.consumed_valid_samples;
    scheduler_samples_ = p.scheduler_samples;
    if (!loaded_->finetune) last_saved_iteration_ = iteration_;
  }
}

std::string Trainer::save_checkpoint() {
  if (!checkpointing_->enabled()) fail("internal: save_checkpoint without `save`");
  ddp_->finish_param_sync();
  last_saved_iteration_ = iteration_;
  return checkpointing_->save(TrainingProgress{iteration_, consumed_samples_, consumed_valid_samples_, scheduler_samples_});
}

std::optional<std::string> Trainer::finish_saves(bool wait) { return checkpointing_->finish_async(wait); }

Trainer::~Trainer() = default;

std::string Trainer::memory_plan() const {
  const parallel::DdpConfig& d = ddp_->config();
  const std::int64_t params = model_->parameter_count();
  std::int64_t shard = 0;
  for (const auto& r : optimizer_->ranges()) shard += r.numel;
  return fmt::format(
      "memory per rank: model arena {:.3f} GiB (fp32 parameters and gradients{}, activations, scratch), "
      "optimizer state {:.3f} GiB ({} for {} of {} parameters{}), gradient staging {:.3f} GiB; "
      "data parallel {} × context {}, {} buckets of ≤ {:.1f} MiB reduced in {}{}{}",
      gib(static_cast<double>(model_->arena_bytes())), model_->params_bf16() ? ", bf16 copy" : "",
      gib(static_cast<double>(optimizer_->state_bytes())), optimizer_->name() == "adam" ? "exp_avg, exp_avg_sq" : "momentum",
      shard, params, d.use_distributed_optimizer ? ": distributed optimizer shard" : "",
      gib(static_cast<double>(ddp_->staging_floats()) * 4.0), state_.layout().sizes().dp(), state_.layout().sizes().cp,
      buffer_->buckets().size(), static_cast<double>(buffer_->options().bucket_size) * 4.0 / (1 << 20),
      d.grad_reduce_in_bf16 ? "bf16" : "fp32", d.overlap_grad_reduce ? ", overlapped with backward" : "",
      d.overlap_param_gather ? ", parameter all-gather overlapped with forward" : "");
}

Trainer::MaskSums Trainer::load_global_batch(MicroBatchLoader& loader, std::int64_t consumed) {
  const config::Args& a = args_;
  const int cp = state_.cp().size();
  const std::int64_t mbs = a.micro_batch_size, seq = a.seq_length, whole = mbs * seq, per_micro = whole / cp;
  const int dp = state_.dp().size(), dp_rank = state_.dp().rank();
  MaskSums sums;
  for (std::int64_t m = 0; m < a.num_micro_batches; ++m) {
    std::int32_t* tokens = tokens_.data() + m * per_micro;
    std::int32_t* labels = labels_.data() + m * per_micro;
    float* mask = loss_mask_.data() + m * per_micro;
    const std::int64_t first = first_sample_of(consumed, m, mbs, dp, dp_rank);
    double whole_sum = 0.0, local_sum = 0.0;
    if (cp == 1) {
      loader.load(first, tokens, labels, mask);
    } else {
      std::int32_t* ft = full_tokens_.data() + m * whole;
      std::int32_t* fl = full_labels_.data() + m * whole;
      float* fm = full_mask_.data() + m * whole;
      loader.load(first, ft, fl, fm);
      for (std::int64_t i = 0; i < whole; ++i) whole_sum += fm[i];
      const int r = state_.cp().rank();
      parallel::context_parallel_slice(ft, tokens, mbs, seq, 1, cp, r);
      parallel::context_parallel_slice(fl, labels, mbs, seq, 1, cp, r);
      parallel::context_parallel_slice(fm, mask, mbs, seq, 1, cp, r);
    }
    for (std::int64_t i = 0; i < per_micro; ++i) local_sum += mask[i];
    sums.whole.push_back(cp == 1 ? local_sum : whole_sum);
    sums.local.push_back(local_sum);
  }
  return sums;
}

model::MicroBatch Trainer::micro_batch(std::int64_t m) {
  const std::int64_t whole = args_.micro_batch_size * args_.seq_length, per_micro = whole / state_.cp().size();
  model::MicroBatch b{tokens_.data() + m * per_micro, labels_.data() + m * per_micro, loss_mask_.data() + m * per_micro};
  if (!full_tokens_.empty()) {  // multi-token prediction under context parallelism reads the whole sequences
    b.sequence_tokens = full_tokens_.data() + m * whole;
    b.sequence_labels = full_labels_.data() + m * whole;
    b.sequence_loss_mask = full_mask_.data() + m * whole;
  }
  return b;
}

void Trainer::log_pipeline_bubble() {
  parallel::Communicator& pp = state_.pp();
  if (pp.size() == 1 || pipeline_seconds_ <= 0) return;
  // Each stage's idle fraction next to the schedule's: (p − 1) / (V·m + p − 1) of the time (the
  // interleaved schedule divides the bubble by its V chunks).
  std::vector<double> idle(static_cast<size_t>(pp.size()), 0.0);
  idle[static_cast<size_t>(pp.rank())] = pipeline_wait_seconds_ / pipeline_seconds_;
  pp.allreduce(idle.data(), static_cast<std::int64_t>(idle.size()));
  const double p = pp.size(), m = static_cast<double>(args_.num_micro_batches),
               v = static_cast<double>(model_->num_chunks());
  std::string stages;
  for (double f : idle) stages += fmt::format(" {:.3f}", f);
  logging_->log.note(fmt::format("pipeline bubble: measured idle fraction per stage{}; schedule's (p-1)/(V*m+p-1) = "
                                 "{:.3f} (p {}, V {}, m {})",
                                 stages, (p - 1) / (v * m + p - 1), pp.size(), model_->num_chunks(),
                                 args_.num_micro_batches));
}

IterationResult Trainer::train_step() {
  const config::Args& a = args_;
  const double start = monotonic_seconds();
  const std::int64_t micro_batches = a.num_micro_batches;  // this rank's share
  // Megatron's objective: each micro-batch's masked token mean divided by the number of
  // micro-batches, gradients averaged over data-parallel ranks (the DDP's 1/dp); the logged lm loss
  // is the token mean over the whole global batch. Every rank of a pipeline loads the global
  // batch (the first stage reads the tokens, the last the labels, mask and — for MTP — tokens).
  // Under context parallelism each rank holds part of every sequence: its loss sum is divided by
  // the whole micro-batch's token count and multiplied by cp, since the DDP averages over data ×
  // context ranks (Megatron's loss × cp).
  const int cp = state_.cp().size();
  model_->zero_grads();
  const MaskSums mask_sums = load_global_batch(*train_loader_, consumed_samples_);
  std::vector<float> weights;
  double totals[2] = {0.0, 0.0};  // Σ loss·mask, Σ mask over this rank's micro-batches (loss stage)
  for (std::int64_t m = 0; m < micro_batches; ++m) {
    const double mask_sum = mask_sums.whole[static_cast<size_t>(m)];
    weights.push_back(mask_sum > 0 ? static_cast<float>(cp / (mask_sum * static_cast<double>(micro_batches))) : 0.0f);
    if (model_->post_process()) totals[1] += mask_sums.local[static_cast<size_t>(m)];  // summed over dp × cp below
  }
  // Megatron's MoEAuxLossAutoScaler / MTP scale: auxiliary-loss gradients seeded with 1/micro-batches;
  // replicated parameters' partial gradients summed over TP once, in the last micro-batch. Under
  // context parallelism also × cp, as the main loss: each CP rank's router sees part of the
  // sequences and the DDP averages over the CP ranks. (Megatron's scale has no CP factor, so its
  // auxiliary-loss gradients shrink by 1/cp under CP; here the objective does not depend on the layout.)
  const auto state_of = [micro_batches, cp](std::int64_t m) {
    model::MicroBatchState state;
    state.aux_loss_scale = static_cast<float>(cp / static_cast<double>(micro_batches));
    state.finalize_grads = m + 1 == micro_batches;
    return state;
  };
  ddp_->start_last_micro_batch();
  totals[0] = pipeline_->train([this](std::int64_t m) { return micro_batch(m); }, weights, state_of);
  if (iteration_ + 1 > a.log_avg_skip_iterations) {
    pipeline_seconds_ += pipeline_->last_step_seconds();
    pipeline_wait_seconds_ += pipeline_->last_wait_seconds();
  }
  model_->finish_shared_embedding_grads(state_of(micro_batches - 1));
  ddp_->finish_grad_sync();
  state_.dp_cp().allreduce(totals, 2);
  state_.pp().allreduce(totals, 2);  // only the last stage holds the loss
  IterationResult r;
  r.iteration = ++iteration_;
  r.lm_loss = totals[1] > 0 ? totals[0] / totals[1] : 0.0;
  // Routers' token counts are summed over tensor × data × context before the expert-bias update,
  // so every rank updates its bias alike; the logged auxiliary losses are reduced as Megatron's
  // loss tracker does (AuxLossGroups), over the pipeline too.
  r.aux_losses = finish_auxiliary_losses(
      *model_, a, micro_batches,
      AuxLossGroups{&state_.group(parallel::GroupKind::TensorAndContextParallel), &state_.dp(),
                    &state_.group(parallel::GroupKind::TensorAndDataParallelWithCp), &state_.dp_cp(), &state_.pp()});
  r.grad_norm = optimizer_->clip_grad_norm(a.clip_grad);
  // Loss and norm are reduced values: every rank takes this decision at the same point. A
  // non-finite one is never applied: the run stops, or the step is skipped (nonfinite_step.hpp).
  switch (decide_step(r.lm_loss, r.grad_norm, config_)) {
    case StepDecision::kStop:
      throw parallel::CollectiveError(non_finite_stop_message(r.iteration, r.lm_loss, r.grad_norm, config_),
                                      state_.rank() == 0);
    case StepDecision::kSkip:
      r.skipped = true;
      break;
    case StepDecision::kApply:
      optimizer_->step(scheduler_.lr(scheduler_samples_), scheduler_.weight_decay(scheduler_samples_));
      scheduler_samples_ += a.global_batch_size;
      break;
  }
  ddp_->start_param_sync();
  consumed_samples_ += a.global_batch_size;
  r.learning_rate = scheduler_.lr(scheduler_samples_);
  r.seconds = monotonic_seconds() - start;
  return r;
}

std::optional<EvalResult> Trainer::evaluate() {
  const config::Args& a = args_;
  if (!valid_loader_ || a.eval_iters <= 0) return std::nullopt;
  double totals[2] = {0.0, 0.0};
  for (std::int64_t it = 0; it < a.eval_iters; ++it) {
    const MaskSums mask_sums = load_global_batch(*valid_loader_, consumed_valid_samples_);
    if (model_->post_process())
      for (double m : mask_sums.local) totals[1] += m;
    totals[0] += pipeline_->evaluate([this](std::int64_t m) { return micro_batch(m); });
    consumed_valid_samples_ += a.global_batch_size;
  }
  state_.dp_cp().allreduce(totals, 2);
  state_.pp().allreduce(totals, 2);
  EvalResult r;
  r.iteration = iteration_;
  r.lm_loss = totals[1] > 0 ? totals[0] / totals[1] : 0.0;
  r.ppl = std::exp(std::min(20.0, r.lm_loss));  // Megatron caps the exponent at 20
  return r;
}

TrainingSummary Trainer::run() {
  const config::Args& a = args_;
  TrainingLogging& log = logging_->log;
  log.start();
  log.note(memory_plan());
  if (loaded_)
    log.note(loaded_->finetune
                 ? fmt::format("loaded the weights of {} (finetune: iteration, optimizer and data position start afresh)",
                               loaded_->dir.string())
                 : fmt::format("loaded checkpoint {} at iteration {} (consumed samples {}{}; {:.1f} MiB in {:.3f} s)",
                               loaded_->dir.string(), iteration_, consumed_samples_,
                               loaded_->optimizer ? ", optimizer state" : ", no optimizer state",
                               static_cast<double>(loaded_->bytes) / (1 << 20), loaded_->seconds));
  std::unique_ptr<ExitSignal> exit_signal;
  if (a.exit_signal_handler) exit_signal = std::make_unique<ExitSignal>(a.exit_signal);
  const bool saving = checkpointing_->enabled();
  auto save = [&] {
    if (saving && last_saved_iteration_ != iteration_) log.note(save_checkpoint());
  };
  TrainingSummary summary;
  const double start = monotonic_seconds();
  std::vector<double> token_rates;
  const std::int64_t train_iters = *a.train_iters;
  while (iteration_ < train_iters) {
    IterationResult r = train_step();
    if (r.iteration == 1) {
      summary.first_loss = r.lm_loss;
      // Megatron: after the first (slowest) iteration the collective timeout may shrink.
      if (a.distributed_timeout_seconds_after_init)
        if (auto* mpi = parallel::MpiRuntime::current())
          mpi->watchdog().set_timeout(static_cast<double>(*a.distributed_timeout_seconds_after_init),
                                      "distributed_timeout_seconds_after_init");
    }
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
    if (saving) {
      if (auto done = finish_saves(false)) log.note(*done);
      if (a.save_interval && *a.save_interval > 0 && iteration_ % *a.save_interval == 0) save();
    }
    if (exit_signal) {
      // Every rank reads its own flag; the maximum makes every rank stop together.
      std::int64_t got = ExitSignal::received() ? 1 : 0;
      state_.world().allreduce(&got, 1, parallel::ReduceOp::Max);
      if (got) {
        save();
        log.note(fmt::format("exiting at iteration {}: received {} (exit_signal_handler)", iteration_, a.exit_signal));
        break;
      }
    }
    if (a.exit_interval && *a.exit_interval > 0 && iteration_ % *a.exit_interval == 0) {
      save();
      log.note(fmt::format("exiting at iteration {} (exit_interval {})", iteration_, *a.exit_interval));
      break;
    }
    if (a.exit_duration_in_mins && *a.exit_duration_in_mins > 0) {
      // Each rank reads its own clock; the maximum makes every rank take the same decision.
      std::int64_t done = (monotonic_seconds() - start_time_) / 60.0 > static_cast<double>(*a.exit_duration_in_mins);
      state_.world().allreduce(&done, 1, parallel::ReduceOp::Max);
      if (done) {
        save();
        log.note(fmt::format("exiting at iteration {}: training ran longer than exit_duration_in_mins = {}", iteration_,
                             *a.exit_duration_in_mins));
        break;
      }
    }
  }
  ddp_->finish_param_sync();
  log_pipeline_bubble();
  const ExpertDispatchReport dispatch = expert_dispatch_report(*model_, a, iteration_, state_.world());
  if (!dispatch.empty) log.note(dispatch.line());
  // Megatron saves at the end unless the last iteration was just saved (Primus: disable_last_saving).
  if (saving && iteration_ > 0 && !a.disable_last_saving) save();
  if (saving)
    if (auto done = finish_saves(true)) log.note(*done);
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
  // The largest resident set over the ranks (one number for the run).
  std::int64_t rss = peak_rss_bytes();
  state_.world().allreduce(&rss, 1, parallel::ReduceOp::Max);
  summary.peak_rss_bytes = rss;
  log.finish(summary, consumed_samples_);
  return summary;
}

}  // namespace primus::train
