#include "train/checkpointing.hpp"

#include <csignal>
#include <cstring>

#include <atomic>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "checkpoint/checkpoint_paths.hpp"
#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/model_io.hpp"
#include "checkpoint/training_state.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "parallel/collective_error.hpp"

namespace fs = std::filesystem;

namespace primus::train {

using checkpoint::CheckpointReader;
using checkpoint::Region;

// ---- CommunicatorCheckpointGroup ----------------------------------------------------------------

std::vector<std::string> CommunicatorCheckpointGroup::allgather(const std::string& text) {
  const int n = comm_.size();
  if (n == 1) return {text};
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(n), 0);
  lengths[static_cast<std::size_t>(comm_.rank())] = static_cast<std::int64_t>(text.size());
  comm_.allgather(lengths.data(), 1);
  std::int64_t longest = 0;
  for (std::int64_t l : lengths) longest = std::max(longest, l);
  // Bytes travel as int32 words (the communicator's smallest element type).
  const std::int64_t words = (longest + 3) / 4;
  if (words == 0) return std::vector<std::string>(static_cast<std::size_t>(n));
  std::vector<std::int32_t> buffer(static_cast<std::size_t>(words * n), 0);
  std::memcpy(buffer.data() + comm_.rank() * words, text.data(), text.size());
  comm_.allgather(buffer.data(), words);
  std::vector<std::string> out;
  for (int r = 0; r < n; ++r)
    out.emplace_back(reinterpret_cast<const char*>(buffer.data() + r * words),
                     static_cast<std::size_t>(lengths[static_cast<std::size_t>(r)]));
  return out;
}

void CommunicatorCheckpointGroup::agree(const std::string& error) {
  if (comm_.size() == 1) {
    if (!error.empty()) throw Error(error);
    return;
  }
  const std::vector<std::string> all = allgather(error);
  int failed = 0, first = -1;
  for (int r = 0; r < static_cast<int>(all.size()); ++r)
    if (!all[static_cast<std::size_t>(r)].empty()) {
      ++failed;
      if (first < 0) first = r;
    }
  if (failed == 0) return;
  const std::string& message = all[static_cast<std::size_t>(first)];
  // Every rank with the same message (a shared file): printed once; else by the first with its rank.
  bool same = failed == comm_.size();
  for (const auto& m : all) same = same && m == message;
  if (same) throw parallel::CollectiveError(message, comm_.rank() == 0);
  throw parallel::CollectiveError(fmt::format("{} (on rank {})", message, first), comm_.rank() == 0);
}

// ---- Checkpointing ------------------------------------------------------------------------------

namespace {

// Megatron's distributed-checkpoint names of the optimizer's state tensors.
std::vector<std::string> state_names(Optimizer& o) {
  if (o.name() == "adam") return {"exp_avg", "exp_avg_sq"};
  if (o.state_elements() > 0 && o.exp_avg() != nullptr) return {"momentum_buffer"};
  return {};
}

std::string state_tensor(const std::string& state, const std::string& param) {
  return "optimizer.state." + state + "." + param;
}

// The parameter each optimizer range lies in.
std::vector<const model::ParamInfo*> range_params(const model::ParameterLayout& layout,
                                                  const std::vector<OptimizerRange>& ranges) {
  std::vector<const model::ParamInfo*> out;
  for (const OptimizerRange& r : ranges) {
    const model::ParamInfo* found = nullptr;
    for (const model::ParamInfo& p : layout.params())
      if (r.offset >= p.offset && r.offset + r.numel <= p.offset + p.numel()) {
        found = &p;
        break;
      }
    if (!found) fail("internal: optimizer range at {} lies in no parameter", r.offset);
    out.push_back(found);
  }
  return out;
}

std::vector<std::int64_t> global_shape(const model::ParamInfo& p) {
  return p.global_cols ? std::vector<std::int64_t>{p.global_rows, p.global_cols} : std::vector<std::int64_t>{p.global_rows};
}

nlohmann::json optimizer_settings(const config::Args& a) {
  return {{"optimizer", a.optimizer}};
}

}  // namespace

Checkpointing::Checkpointing(const config::ResolvedConfig& config, parallel::ParallelState& state,
                             model::PipelineStage& model, Optimizer& optimizer)
    : config_(config),
      args_(config.args),
      state_(state),
      model_(model),
      optimizer_(optimizer),
      group_(state.world()) {}

Checkpointing::~Checkpointing() = default;

bool Checkpointing::enabled() const { return args_.save.has_value(); }

checkpoint::SaveRequest Checkpointing::request(const TrainingProgress& progress) {
  const config::Args& a = args_;
  checkpoint::SaveRequest req;
  req.save_dir = *a.save;
  req.iteration = progress.iteration;
  req.retention.keep_last = a.ckpt_keep_last.value_or(0);
  req.retention.retain_interval = a.save_retain_interval;
  const parallel::RankCoordinates& at = state_.coordinates();
  const int dense_dp = state_.dp_cp().rank(), expert_dp = state_.expert_dp().rank();
  const model::ParameterLayout& layout = model_.layout();
  const float* params = model_.params();
  // Whether this rank holds the copy of p's local slice that goes into the checkpoint.
  // The last pipeline stage's copy of the word embeddings (tied output layer, MTP) is the first
  // stage's tensor: written once, by the first stage; every holder reads it back.
  const model::ParamInfo* embedding_copy =
      model_.holds_embedding_copy() ? &layout[model_.embedding_weight()] : nullptr;
  auto writes = [&](const model::ParamInfo& p, bool every_dp_rank) {
    if (&p == embedding_copy) return false;
    const bool expert = p.group == model::ParamGroup::Expert;
    if (!every_dp_rank && (expert ? expert_dp : dense_dp) != 0) return false;
    if (!p.tensor_parallel && (expert ? at.expert_tp : at.tp) != 0) return false;
    return true;
  };
  for (const model::ParamInfo& p : layout.params())
    if (writes(p, false)) req.pieces.push_back({p.name, global_shape(p), checkpoint::local_region(p), params + p.offset});
  if (at.tp == 0 && dense_dp == 0)
    for (const auto& b : model_.buffers())
      req.pieces.push_back({b.name, {static_cast<std::int64_t>(b.values->size())},
                            checkpoint::whole_region(static_cast<std::int64_t>(b.values->size()), 0), b.values->data()});
  nlohmann::json training = {{"iteration", progress.iteration},
                             {"consumed_train_samples", progress.consumed_samples},
                             {"consumed_valid_samples", progress.consumed_valid_samples},
                             {"scheduler_samples", progress.scheduler_samples},
                             {"optimizer", optimizer_settings(a)}};
  if (!a.no_save_optim) {
    training["optimizer"]["steps"] = optimizer_.steps_taken();
    const std::vector<std::string> names = state_names(optimizer_);
    const bool distributed = a.use_distributed_optimizer;
    const auto& ranges = optimizer_.ranges();
    const auto owners = range_params(layout, ranges);
    std::int64_t packed = 0;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const OptimizerRange& r = ranges[i];
      const model::ParamInfo& p = *owners[i];
      if (writes(p, distributed)) {
        for (const checkpoint::LocalBlock& block :
             checkpoint::element_range_blocks(p, r.offset - p.offset, r.offset - p.offset + r.numel)) {
          const std::int64_t at_packed = packed + block.local_offset - (r.offset - p.offset);
          for (std::size_t s = 0; s < names.size(); ++s) {
            const float* base = s == 0 ? optimizer_.exp_avg() : optimizer_.exp_avg_sq();
            req.pieces.push_back({state_tensor(names[s], p.name), global_shape(p), block.region, base + at_packed});
          }
        }
      }
      packed += r.numel;
    }
  }
  req.state = {{"training", training},
               {"model", checkpoint::model_summary(a, model_.config())},
               {"args", checkpoint::resolved_arguments(config_)},
               {"layout", checkpoint::layout_summary(a)}};
  if (!a.no_save_rng) req.rank_state = {{"rng", {{"seed", a.seed}, {"stochastic_state", "none"}}}};
  return req;
}

std::string Checkpointing::save(const TrainingProgress& progress) {
  const double start = monotonic_seconds();
  if (!saver_) saver_ = std::make_unique<checkpoint::CheckpointSaver>(group_);
  std::string pending;
  if (saver_->pending())
    if (auto done = finish_async(true)) pending = *done + "; ";
  const checkpoint::SaveRequest req = request(progress);
  if (args_.async_save) {
    saver_->save_async(req);
    pending_iteration_ = progress.iteration;
    return pending + fmt::format("saving checkpoint at iteration {} to {} in the background (started in {:.3f} s)",
                                 progress.iteration, args_.save->c_str(), monotonic_seconds() - start);
  }
  checkpoint::SaveResult r = saver_->save(req);
  // Rank 0 published the checkpoint (total size, retention); the line is logged by the last rank.
  const std::vector<std::string> published =
      group_.allgather(fmt::format("{} {}", r.bytes, fmt::join(r.deleted, " ")));
  {
    std::istringstream in(published.front());
    in >> r.bytes;
    r.deleted.clear();
    for (std::int64_t it; in >> it;) r.deleted.push_back(it);
  }
  std::string line = pending + fmt::format("saved checkpoint at iteration {} to {} ({:.1f} MiB in {:.3f} s)",
                                           progress.iteration, r.dir.string(), static_cast<double>(r.bytes) / (1 << 20),
                                           monotonic_seconds() - start);
  if (!r.deleted.empty()) line += fmt::format("; removed iterations {}", fmt::join(r.deleted, ", "));
  return line;
}

std::optional<std::string> Checkpointing::finish_async(bool wait) {
  if (!saver_ || !saver_->pending()) return std::nullopt;
  std::optional<checkpoint::SaveResult> r = saver_->finish(wait);
  if (!r) return std::nullopt;
  std::string line = fmt::format("checkpoint at iteration {} complete: {} ({:.1f} MiB)", pending_iteration_,
                                 r->dir.string(), static_cast<double>(r->bytes) / (1 << 20));
  if (!r->deleted.empty()) line += fmt::format("; removed iterations {}", fmt::join(r->deleted, ", "));
  return line;
}

void Checkpointing::read_optimizer(CheckpointReader& reader) {
  const std::vector<std::string> names = state_names(optimizer_);
  const auto& ranges = optimizer_.ranges();
  const auto owners = range_params(model_.layout(), ranges);
  std::int64_t packed = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const OptimizerRange& r = ranges[i];
    const model::ParamInfo& p = *owners[i];
    for (const checkpoint::LocalBlock& block :
         checkpoint::element_range_blocks(p, r.offset - p.offset, r.offset - p.offset + r.numel)) {
      const std::int64_t at_packed = packed + block.local_offset - (r.offset - p.offset);
      for (std::size_t s = 0; s < names.size(); ++s) {
        float* base = s == 0 ? optimizer_.exp_avg() : optimizer_.exp_avg_sq();
        const std::string t = state_tensor(names[s], p.name);
        if (!reader.has(t))
          fail("{}: the checkpoint has no optimizer state '{}' (saved with no_save_optim or another optimizer): load "
               "with no_load_optim (or finetune) to start the optimizer afresh",
               reader.dir().string(), t);
        reader.read(t, block.region, base + at_packed, checkpoint::is_vocabulary_tensor(p.name));
      }
    }
    packed += r.numel;
  }
}

std::optional<LoadResult> Checkpointing::load() {
  const config::Args& a = args_;
  const double start = monotonic_seconds();
  std::optional<std::string> load = a.load;
  // Primus' auto_continue_train: continue from `save` when it holds a checkpoint — the run's own,
  // so a real resume whatever `finetune` says.
  const bool continuing = a.auto_continue_train && a.save && checkpoint::read_tracker(*a.save).has_value();
  if (continuing) load = a.save;
  const bool finetune = a.finetune && !continuing;
  if (!load) return std::nullopt;
  std::optional<fs::path> dir;
  std::string error;
  try {
    dir = checkpoint::resolve_checkpoint_dir(*load, a.ckpt_step);
  } catch (const std::exception& e) {
    error = e.what();
  }
  group_.agree(error);
  if (!dir) {
    if (a.exit_on_missing_checkpoint)
      throw parallel::CollectiveError(fmt::format("load: no checkpoint in {} (no {}) and exit_on_missing_checkpoint "
                                                  "is set",
                                                  *load, checkpoint::kTrackerFile),
                                      state_.rank() == 0);
    return std::nullopt;
  }
  LoadResult result;
  result.dir = *dir;
  result.finetune = finetune;
  error.clear();
  std::vector<std::string> model_tensor_names;
  std::string unclaimed_flags;  // per model tensor of the checkpoint: '1' when this rank holds no part
  try {
    CheckpointReader reader(*dir);
    reader.verify(group_);
    const nlohmann::json& st = reader.state();
    if (st.contains("model"))
      checkpoint::check_model_summary(st["model"], checkpoint::model_summary(a, model_.config()), dir->string());
    // A stage or an expert-parallel rank holds part of the model: the tensors it does not hold are
    // checked against every rank's below.
    std::vector<std::string> unclaimed;
    checkpoint::read_model(reader, model_, &unclaimed);
    std::set<std::string> mine(unclaimed.begin(), unclaimed.end());
    for (const auto& [name, t] : reader.metadata().tensors) {
      if (name.starts_with("optimizer.")) continue;
      model_tensor_names.push_back(name);
      unclaimed_flags.push_back(mine.count(name) ? '1' : '0');
    }
    const nlohmann::json training = st.value("training", nlohmann::json::object());
    for (const auto& f : reader.metadata().files) result.bytes += f.bytes;
    if (!finetune) {
      result.progress.iteration = reader.iteration();
      result.progress.consumed_samples = training.value("consumed_train_samples", std::int64_t{0});
      result.progress.consumed_valid_samples = training.value("consumed_valid_samples", std::int64_t{0});
      result.progress.scheduler_samples = training.value("scheduler_samples", result.progress.consumed_samples);
      if (!a.no_load_optim) {
        const nlohmann::json opt = training.value("optimizer", nlohmann::json::object());
        if (!opt.contains("steps"))
          fail("{}: the checkpoint holds no optimizer state (saved with no_save_optim): load with no_load_optim or "
               "finetune",
               dir->string());
        if (opt.value("optimizer", a.optimizer) != a.optimizer)
          fail("{}: saved with optimizer {} but the experiment uses {}: load with no_load_optim to start it afresh",
               dir->string(), opt.value("optimizer", std::string()), a.optimizer);
        read_optimizer(reader);
        optimizer_.set_steps_taken(opt["steps"].get<std::int64_t>());
        result.optimizer = true;
      }
      if (!a.no_load_rng && st.contains("ranks")) {
        const nlohmann::json& ranks = st["ranks"];
        const auto r = static_cast<std::size_t>(state_.rank());
        if (r < ranks.size() && ranks[r].is_object() && ranks[r].contains("rng")) {
          const std::int64_t seed = ranks[r]["rng"].value("seed", a.seed);
          if (seed != a.seed)
            fail("{}: saved with seed {} but the experiment has seed {}: the run would not continue the same "
                 "(set seed: {} or load with no_load_rng)",
                 dir->string(), seed, a.seed, seed);
        }
      }
    }
  } catch (const parallel::CollectiveError&) {
    throw;
  } catch (const std::exception& e) {
    error = e.what();
  }
  group_.agree(error);
  const std::vector<std::string> flags = group_.allgather(unclaimed_flags);
  for (std::size_t i = 0; i < model_tensor_names.size(); ++i) {
    bool anyone = false;
    for (const std::string& f : flags) anyone |= i < f.size() && f[i] == '0';
    if (!anyone)
      throw parallel::CollectiveError(fmt::format("{}: the checkpoint has tensor '{}', which the experiment's model does "
                                                  "not: it holds another model",
                                                  dir->string(), model_tensor_names[i]),
                                      state_.rank() == 0);
  }
  result.seconds = monotonic_seconds() - start;
  return result;
}

// ---- ExitSignal ---------------------------------------------------------------------------------

namespace {

std::atomic<bool> g_exit_signal{false};

void on_exit_signal(int) { g_exit_signal.store(true); }

int signal_number(const std::string& name) {
  static const std::pair<const char*, int> known[] = {
      {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},
      {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCONT", SIGCONT}, {"SIGTSTP", SIGTSTP}, {"SIGXCPU", SIGXCPU},
      {"SIGPWR", SIGPWR},   {"SIGURG", SIGURG},   {"SIGWINCH", SIGWINCH}};
  for (const auto& [n, v] : known)
    if (name == n) return v;
  fail("exit_signal: {} cannot be caught to save a checkpoint here (use SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, ...)",
       name);
}

}  // namespace

ExitSignal::ExitSignal(const std::string& name) : signal_(signal_number(name)) {
  g_exit_signal.store(false);
  auto* previous = new struct sigaction;
  struct sigaction action {};
  action.sa_handler = on_exit_signal;
  sigemptyset(&action.sa_mask);
  sigaction(signal_, &action, previous);
  previous_ = previous;
}

ExitSignal::~ExitSignal() {
  auto* previous = static_cast<struct sigaction*>(previous_);
  sigaction(signal_, previous, nullptr);
  delete previous;
}

bool ExitSignal::received() { return g_exit_signal.load(); }

}  // namespace primus::train
