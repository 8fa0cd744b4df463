// `primus config show`: resolve an experiment exactly as training would and print the result.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "cli/number_options.hpp"
#include "cli/overrides_option.hpp"
#include "config/config_printer.hpp"
#include "config/resolved_config.hpp"

namespace primus::cli {

namespace {

struct ShowOptions {
  std::string config;
  std::string format = "yaml";
  bool explain = false;
  int64_t world_size = 0;
};

}  // namespace

void register_config_command(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Inspect configurations");
  config->require_subcommand(1);
  auto opts = std::make_shared<ShowOptions>();
  auto* show = config->add_subcommand(
      "show",
      "Print the fully resolved configuration of an experiment: trainer defaults, then the model preset chain, "
      "then the experiment's overrides, then command-line overrides (--key value, --key=value, --flag, Megatron "
      "spellings such as --tensor-model-parallel-size 2, or a flag list after --megatron-args)");
  show->add_option("--config", opts->config, "Experiment YAML file")->required();
  show->add_option("--format", opts->format, "Output format: yaml or json")
      ->check(CLI::Validator(
          [](std::string& v) { return v == "yaml" || v == "json" ? std::string() : "must be yaml or json, got '" + v + "'"; },
          "yaml|json"));
  show->add_flag("--explain", opts->explain, "Show where each value came from");
  add_positive_integer_option(show, "--world-size", opts->world_size,
                              "Number of processes to validate the parallel layout for", config::kMaxWorldSize);
  allow_overrides(*show);
  show->callback([opts, show] {
    config::ResolveOptions ro;
    ro.config = opts->config;
    ro.overrides = collect_overrides(*show);
    if (opts->world_size > 0) ro.world_size = opts->world_size;
    ro.smallest_world_when_unset = true;
    config::ResolvedConfig resolved = config::resolve(ro);
    report_notes(resolved);
    auto format = opts->format == "json" ? config::OutputFormat::kJson : config::OutputFormat::kYaml;
    std::fputs(config::format_resolved(resolved, format, opts->explain).c_str(), stdout);
  });
}

}  // namespace primus::cli
