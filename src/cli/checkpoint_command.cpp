// `primus checkpoint import-hf | export-hf | inspect | export-megatron | import-megatron`:
// conversions between the engine's checkpoints and Hugging Face / Megatron-LM formats, and a
// look inside a checkpoint.
#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/hf/hf_convert.hpp"
#include "checkpoint/inspect.hpp"
#include "checkpoint/megatron/megatron_convert.hpp"
#include "checkpoint/model_io.hpp"
#include "checkpoint/training_state.hpp"
#include "cli/commands.hpp"
#include "cli/experiment_model.hpp"
#include "cli/number_options.hpp"
#include "cli/overrides_option.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"

namespace fs = std::filesystem;

namespace primus::cli {

namespace {

struct Options {
  std::string config, hf_dir, output, load, format = "text", dtype, model_type, megatron_dir;
  std::string transformer_impl = "transformer_engine";
  std::int64_t ckpt_step = -1;
  std::int64_t max_shard_mib = 2048;
  std::int64_t tp = 1, pp = 1, ep = 1, vpp = 1;
  bool grouped_gemm = false, no_verify = false;
};

CLI::Validator one_of(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices](std::string& v) {
        for (const auto& c : choices)
          if (v == c) return std::string();
        return fmt::format("must be one of {}, got '{}'", fmt::join(choices, ", "), v);
      },
      fmt::format("{}", fmt::join(choices, "|")));
}

// The checkpoint folder --load (and --ckpt-step) designate, with the reader's checks.
checkpoint::CheckpointReader open_checkpoint(const std::string& load, std::int64_t step) {
  std::optional<std::int64_t> s;
  if (step >= 0) s = step;
  const auto dir = checkpoint::resolve_checkpoint_dir(load, s);
  if (!dir) fail("{}: no checkpoint there (no {} and no {})", load, "latest_checkpointed_iteration.txt", "metadata.json");
  return checkpoint::CheckpointReader(*dir);
}

// The checkpoint to convert: it must hold the experiment's model, and every checksum must hold.
checkpoint::CheckpointReader open_checkpoint_of(const ExperimentModel& m, const std::string& load, std::int64_t step) {
  checkpoint::CheckpointReader reader = open_checkpoint(load, step);
  if (reader.state().contains("model"))
    checkpoint::check_model_summary(reader.state()["model"], checkpoint::model_summary(m.args(), m.config), reader.dir().string());
  checkpoint::check_model_tensors(reader, m.tensors(), m.config.vocab);
  checkpoint::SingleProcessGroup one_process;
  reader.verify(one_process);
  return reader;
}

void import_hf(const Options& o, const std::vector<std::string>& overrides) {
  ExperimentModel m = load_experiment_model(o.config, overrides);
  report_notes(m.resolved);
  const auto r = checkpoint::hf::import_hf(m.args(), m.config, m.tensors(), o.hf_dir, o.output, experiment_state(m));
  std::printf("imported a Hugging Face %s model from %s: %lld tensors, %s -> %s\n",
              std::string(checkpoint::hf::model_type(r.family)).c_str(), o.hf_dir.c_str(), static_cast<long long>(r.tensors),
              format_bytes(r.bytes).c_str(), r.checkpoint.string().c_str());
  std::printf("fine-tune it with: primus train pretrain --config %s --load %s --finetune\n", o.config.c_str(), o.output.c_str());
}

void export_hf(const Options& o, const std::vector<std::string>& overrides) {
  ExperimentModel m = load_experiment_model(o.config, overrides);
  report_notes(m.resolved);
  checkpoint::CheckpointReader reader = open_checkpoint_of(m, o.load, o.ckpt_step);
  checkpoint::hf::ExportOptions opt;
  opt.bf16 = o.dtype.empty() ? m.args().bf16 : o.dtype == "bf16";
  opt.max_shard_bytes = static_cast<std::uint64_t>(o.max_shard_mib) << 20;
  if (!o.model_type.empty()) {
    opt.family = checkpoint::hf::family_from_model_type(o.model_type);
    if (!opt.family) fail("--model-type '{}' is not one of {}", o.model_type, checkpoint::hf::supported_model_types());
  }
  if (m.tokenizer_json) {
    opt.tokenizer_json = *m.tokenizer_json;
    if (auto b = m.tokenizer->bos()) opt.bos = *b;
    opt.eos = m.tokenizer->eod();
  }
  const auto r = checkpoint::hf::export_hf(m.args(), m.config, m.tensors(), reader, o.output, opt);
  std::printf("exported iteration %lld of %s as a Hugging Face %s model (%s) to %s: %s\n",
              static_cast<long long>(reader.iteration()), reader.dir().string().c_str(),
              std::string(checkpoint::hf::model_type(r.family)).c_str(), opt.bf16 ? "bfloat16" : "float32", o.output.c_str(),
              fmt::format("{}", fmt::join(r.files, ", ")).c_str());
}

void export_megatron(const Options& o, const std::vector<std::string>& overrides) {
  ExperimentModel m = load_experiment_model(o.config, overrides);
  report_notes(m.resolved);
  checkpoint::CheckpointReader reader = open_checkpoint_of(m, o.load, o.ckpt_step);
  checkpoint::megatron::ExportMegatronOptions opt;
  opt.layout.tp = o.tp;
  opt.layout.pp = o.pp;
  opt.layout.ep = o.ep;
  opt.layout.vpp = o.vpp;
  opt.layout.transformer_engine = o.transformer_impl == "transformer_engine";
  opt.layout.grouped_gemm = o.grouped_gemm;
  opt.layout.make_vocab_size_divisible_by = m.args().make_vocab_size_divisible_by;
  opt.bf16 = o.dtype.empty() ? m.args().bf16 : o.dtype == "bf16";
  nlohmann::json args = reader.state().contains("args") ? reader.state()["args"] : checkpoint::resolved_arguments(m.resolved);
  const auto r = checkpoint::megatron::export_megatron(m.config, m.tensors(), reader, args, o.output, opt);
  std::printf("exported iteration %lld of %s as a Megatron-LM torch checkpoint (TP %lld, PP %lld, EP %lld%s, %s, %s): "
              "%lld files, %s in %s\n",
              static_cast<long long>(reader.iteration()), reader.dir().string().c_str(), static_cast<long long>(o.tp),
              static_cast<long long>(o.pp), static_cast<long long>(o.ep),
              o.vpp > 1 ? fmt::format(", VPP {}", o.vpp).c_str() : "", o.transformer_impl.c_str(),
              opt.bf16 ? "bfloat16" : "float32", static_cast<long long>(r.files), format_bytes(r.bytes).c_str(),
              r.dir.string().c_str());
  std::printf("continue with Megatron-LM: --load %s --finetune, or --no-load-optim --no-load-rng to keep the iteration\n",
              o.output.c_str());
}

void import_megatron(const Options& o, const std::vector<std::string>& overrides) {
  ExperimentModel m = load_experiment_model(o.config, overrides);
  report_notes(m.resolved);
  const auto r = checkpoint::megatron::import_megatron(m.args(), m.config, m.tensors(), o.megatron_dir, o.output,
                                                       experiment_state(m));
  std::printf("imported iteration %lld of a Megatron-LM checkpoint (TP %lld, PP %lld, EP %lld, %lld files) -> %s\n",
              static_cast<long long>(r.iteration), static_cast<long long>(r.layout.tp), static_cast<long long>(r.layout.pp),
              static_cast<long long>(r.layout.ep), static_cast<long long>(r.files), r.checkpoint.string().c_str());
  std::printf("it holds weights only: continue with --load %s --finetune (or --no-load-optim --no-load-rng)\n",
              o.output.c_str());
}

void inspect(const Options& o) {
  checkpoint::CheckpointReader reader = open_checkpoint(o.load, o.ckpt_step);
  const checkpoint::Inspection r = checkpoint::inspect(reader, !o.no_verify);
  std::fputs(o.format == "json" ? (r.report.dump(2) + "\n").c_str() : r.text.c_str(), stdout);
  if (!r.checksums_hold) fail("{}: the checkpoint is damaged (a file is missing, truncated or fails its checksum)", reader.dir().string());
}

}  // namespace

void register_checkpoint_command(CLI::App& app) {
  auto* ck = app.add_subcommand("checkpoint", "Convert and inspect checkpoints");
  ck->require_subcommand(1);
  auto o = std::make_shared<Options>();

  auto* imp = ck->add_subcommand("import-hf", "Convert a Hugging Face model (config.json + safetensors) into a checkpoint");
  imp->add_option("--config", o->config, "Experiment YAML file describing the same architecture")->required();
  imp->add_option("--hf-dir", o->hf_dir, "Folder of the Hugging Face model")->required();
  imp->add_option("--output", o->output, "Checkpoint folder to write (used later as --load)")->required();
  allow_overrides(*imp);
  imp->callback([o, imp] { import_hf(*o, collect_overrides(*imp)); });

  auto* exp = ck->add_subcommand("export-hf", "Write a checkpoint as a Hugging Face model folder");
  exp->add_option("--config", o->config, "Experiment YAML file of the checkpoint's model")->required();
  exp->add_option("--load", o->load, "Checkpoint folder (holding latest_checkpointed_iteration.txt) or an iter_* folder")
      ->required();
  exp->add_option("--output", o->output, "New folder for config.json and the safetensors files")->required();
  exp->add_option("--dtype", o->dtype, "Weights' dtype: fp32 or bf16 (default: bf16 when the experiment trains in bf16)")
      ->check(one_of({"fp32", "bf16"}));
  exp->add_option("--model-type", o->model_type, "Hugging Face model_type to write (default: from the architecture)");
  add_positive_integer_option(exp, "--max-shard-size", o->max_shard_mib, "Largest safetensors file, in MiB (default 2048)",
                              1 << 20);
  add_positive_integer_option(exp, "--ckpt-step", o->ckpt_step, "Iteration to export instead of the latest", 1LL << 50);
  allow_overrides(*exp);
  exp->callback([o, exp] { export_hf(*o, collect_overrides(*exp)); });

  auto* em = ck->add_subcommand("export-megatron",
                                "Write a checkpoint in Megatron-LM's legacy torch format for a chosen TP/PP/EP layout");
  em->add_option("--config", o->config, "Experiment YAML file of the checkpoint's model")->required();
  em->add_option("--load", o->load, "Checkpoint folder (holding latest_checkpointed_iteration.txt) or an iter_* folder")
      ->required();
  em->add_option("--output", o->output, "Megatron save folder to write (iter_NNNNNNN/mp_rank_*/model_optim_rng.pt)")
      ->required();
  add_positive_integer_option(em, "--tensor-model-parallel-size,--tp", o->tp, "Tensor-parallel ranks (default 1)", 1 << 16);
  add_positive_integer_option(em, "--pipeline-model-parallel-size,--pp", o->pp, "Pipeline stages (default 1)", 1 << 16);
  add_positive_integer_option(em, "--expert-model-parallel-size,--ep", o->ep, "Expert-parallel ranks (default 1)", 1 << 16);
  add_positive_integer_option(em, "--virtual-pipeline-model-parallel-size", o->vpp,
                              "Model chunks per pipeline stage (default 1)", 1 << 16);
  em->add_option("--transformer-impl", o->transformer_impl,
                 "Layer spec whose names to write: transformer_engine (Megatron's default) or local")
      ->check(one_of({"transformer_engine", "local"}));
  em->add_flag("--moe-grouped-gemm", o->grouped_gemm, "Name experts as TE's grouped GEMM does (mlp.experts.linear_fc1.weight<i>)");
  em->add_option("--dtype", o->dtype, "Weights' dtype: fp32 or bf16 (default: bf16 when the experiment trains in bf16)")
      ->check(one_of({"fp32", "bf16"}));
  add_positive_integer_option(em, "--ckpt-step", o->ckpt_step, "Iteration to export instead of the latest", 1LL << 50);
  allow_overrides(*em);
  em->callback([o, em] { export_megatron(*o, collect_overrides(*em)); });

  auto* im = ck->add_subcommand("import-megatron", "Convert a Megatron-LM legacy torch checkpoint into a checkpoint");
  im->add_option("--config", o->config, "Experiment YAML file describing the same architecture")->required();
  im->add_option("--megatron-dir", o->megatron_dir, "Megatron save folder (or one of its iter_* / release folders)")
      ->required();
  im->add_option("--output", o->output, "Checkpoint folder to write")->required();
  allow_overrides(*im);
  im->callback([o, im] { import_megatron(*o, collect_overrides(*im)); });

  auto* ins = ck->add_subcommand("inspect", "Show a checkpoint's iteration, layout, tensors and files, and verify its checksums");
  ins->add_option("checkpoint", o->load, "Checkpoint folder or iter_* folder")->required();
  ins->add_option("--format", o->format, "text or json")->check(one_of({"text", "json"}));
  add_positive_integer_option(ins, "--ckpt-step", o->ckpt_step, "Iteration to inspect instead of the latest", 1LL << 50);
  ins->add_flag("--no-verify", o->no_verify, "Check file sizes only (do not read every byte for the checksums)");
  ins->callback([o] { inspect(*o); });
}

}  // namespace primus::cli
