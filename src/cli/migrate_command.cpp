// `primus migrate megatron-lm SCRIPT [KEY=VALUE ...] --output DIR` and
// `primus migrate megatron-args [--output DIR] -- FLAGS...`: a Megatron-LM launch script or a
// pasted flag list to a Primus experiment (and a model preset when the zoo has none), proven
// lossless against Megatron-LM's own reading of the flags.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/number_options.hpp"
#include "config/resolved_config.hpp"
#include "cli/overrides_option.hpp"
#include "core/error.hpp"
#include "core/message_text.hpp"
#include "core/signal_guard.hpp"
#include "migrate/launch_capture.hpp"
#include "migrate/migration.hpp"
#include "migrate/migration_summary.hpp"

namespace fs = std::filesystem;

namespace primus::cli {

namespace {

constexpr std::int64_t kMaxGpus = 1 << 16;
constexpr double kMaxTimeoutSeconds = 7 * 24 * 3600;

struct MigrateOptions {
  std::string script;
  std::vector<std::string> script_args;
  std::vector<std::string> flags;
  std::string output;
  std::string name;
  int64_t gpus = 8;
  double timeout_s = 60;
  size_t launch_index = 1;
  int64_t world_size = 0;
  int64_t nnodes = 0;
  bool keep_unknown = false;
  bool keep_scratch = false;
};

void add_common_options(CLI::App* cmd, MigrateOptions& o) {
  cmd->add_option("--output,-o", o.output, "Folder to write the experiment (and a new model preset) into")->required();
  cmd->add_option("--name", o.name, "Base name of the written files (default: from the model)");
  cmd->add_flag("--keep-unknown", o.keep_unknown,
                "Carry flags unknown to Megatron-LM's argument table along as comments instead of failing; the "
                "files are written, the proof says NOT lossless and names them, and primus exits with status 1");
  add_positive_integer_option(cmd, "--nnodes", o.nnodes,
                              "Nodes the run is meant for, over the launch line's (a script that hard-codes one node)",
                              config::kMaxWorldSize);
  add_positive_integer_option(cmd, "--world-size", o.world_size,
                              "Processes of the run, over the launch line's (with --nnodes: nodes x processes per node)",
                              config::kMaxWorldSize);
}

// Exit status 1: the files are written, but flags the run received are in them only as comments.
constexpr int kWrittenNotLossless = 1;

// The proof decides the exit status: any difference is a failed migration.
// Flags kept only as comments (--keep-unknown, which the user asked for): the files stay, the
// exit status says the migration is incomplete.
void finish(const migrate::MigrationRequest& request, const migrate::MigrationResult& result) {
  std::fputs(migrate::summarize(request, result).c_str(), stdout);
  if (!result.proof.differences.empty())
    fail("{}: the written experiment does not reproduce the script's arguments: {}", result.experiment_file.string(),
         result.proof.describe());
  if (!result.proof.lossless()) {
    std::fprintf(stderr,
                 "primus: migrate: %s written, but %s; port what they do by hand (exit status %d)\n",
                 result.experiment_file.c_str(), result.proof.describe().c_str(), kWrittenNotLossless);
    throw ExitStatus{kWrittenNotLossless};
  }
}

std::string source_text(const std::string& script, const std::vector<std::string>& args) {
  std::string out = fs::path(script).filename().string();
  for (const auto& a : args) out += " " + a;
  return out;
}

// Before any work: an --output that names a file fails now, not after the script ran.
void check_output_folder(const std::string& output) {
  std::error_code ec;
  if (fs::exists(output, ec) && !fs::is_directory(output, ec))
    fail("{}: --output names a file; give a folder (created when missing)", printable(output, 1000));
}

// A flag list pasted as one quoted string is split at whitespace.
std::vector<std::string> split_pasted(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  for (const auto& t : tokens) {
    if (t.find_first_of(" \t\n") == std::string::npos) {
      out.push_back(t);
      continue;
    }
    std::istringstream in(t);
    std::string word;
    while (in >> word) {
      if (word == "\\") continue;  // line continuations copied from a script
      out.push_back(word);
    }
  }
  return out;
}

}  // namespace

void register_migrate_command(CLI::App& app) {
  auto* migrate_cmd = app.add_subcommand("migrate", "Migrate Megatron-LM launch scripts and flag lists to Primus");
  migrate_cmd->require_subcommand(1);
  auto o = std::make_shared<MigrateOptions>();

  auto* lm = migrate_cmd->add_subcommand(
      "megatron-lm",
      "Run a Megatron-LM launch script in a dry-run sandbox (fake torchrun/python/nvidia-smi/rocm-smi, scratch "
      "folder, time limit), capture the arguments pretrain_gpt.py would receive and write them as a Primus "
      "experiment; KEY=VALUE arguments reach the script as environment and as its own arguments");
  lm->add_option("script", o->script, "The launch script (bash)")->required();
  lm->add_option("args", o->script_args, "KEY=VALUE settings (and other arguments) for the script");
  add_common_options(lm, *o);
  add_positive_integer_option(lm, "--gpus", o->gpus, "GPUs per node the sandbox's probes report (default: 8)", kMaxGpus);
  add_positive_seconds_option(lm, "--timeout", o->timeout_s,
                              "Seconds the script may run before it is stopped (default: 60)", kMaxTimeoutSeconds);
  add_positive_integer_option(lm, "--launch", o->launch_index,
                              "Which training launch to take when the script makes several (1 = first)", 1 << 20);
  lm->add_flag("--keep-sandbox", o->keep_scratch, "Keep the sandbox folder (script output, captured calls) and print it");
  lm->callback([o] {
    check_output_folder(o->output);
    // Ctrl-C or a kill from here on stops the script and removes the sandbox before primus exits.
    SignalGuard signals;
    migrate::CaptureOptions capture;
    capture.script = o->script;
    capture.script_args = o->script_args;
    capture.gpus = o->gpus;
    capture.timeout_s = o->timeout_s;
    capture.launch_index = o->launch_index;
    capture.keep_scratch = o->keep_scratch;
    migrate::CaptureResult captured = migrate::capture_launch(capture);
    if (!captured.scratch.empty()) std::fprintf(stderr, "primus: sandbox kept at %s\n", captured.scratch.c_str());
    std::printf("captured   %s\n", captured.launch.describe().c_str());
    size_t training = 0;
    for (const auto& l : captured.launches) training += l.is_training() ? 1 : 0;
    if (training > 1)
      std::fprintf(stderr, "primus: note: the script makes %zu training launches; migrating number %zu (--launch N)\n",
                   training, o->launch_index);
    migrate::MigrationRequest request;
    request.launch = captured.launch;
    migrate::restate_layout(request.launch.layout, o->nnodes, o->world_size);
    request.output_dir = o->output;
    request.name = o->name;
    request.default_stem = fs::path(o->script).stem().string();
    request.source = source_text(o->script, o->script_args);
    request.keep_unknown = o->keep_unknown;
    SignalGuard::throw_if_pending("migration");
    finish(request, migrate::migrate(request));
  });

  auto* args = migrate_cmd->add_subcommand(
      "megatron-args",
      "Write a Primus experiment from a Megatron-LM flag list pasted from a log: `-- --num-layers 32 ...`, or a "
      "whole launcher line `-- torchrun --nproc_per_node 8 pretrain_gpt.py --num-layers 32 ...`");
  args->add_option("flags", o->flags, "The flags (after --), or a launcher line");
  add_common_options(args, *o);
  add_positive_integer_option(args, "--gpus", o->gpus, "GPUs per node, for --nproc_per_node gpu/auto", kMaxGpus);
  args->callback([o] {
    check_output_folder(o->output);
    std::vector<std::string> tokens = o->flags;
    const auto& after = megatron_args();  // `--megatron-args FLAGS...` works too
    tokens.insert(tokens.end(), after.begin(), after.end());
    tokens = split_pasted(tokens);
    if (tokens.empty()) fail("migrate megatron-args: no flags given; write them after --, e.g. -- --num-layers 32 ...");
    migrate::MigrationRequest request;
    request.launch = migrate::parse_pasted_command(tokens, o->gpus);
    migrate::restate_layout(request.launch.layout, o->nnodes, o->world_size);
    request.layout_hint = "state the run's layout (--world-size N, --nnodes N, --gpus N for --nproc_per_node gpu) "
                          "or change the flags";
    request.output_dir = o->output;
    request.name = o->name;
    request.default_stem = "megatron_args";
    request.source = "a Megatron-LM flag list";
    request.keep_unknown = o->keep_unknown;
    finish(request, migrate::migrate(request));
  });
}

}  // namespace primus::cli
