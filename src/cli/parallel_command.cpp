// `primus parallel layout`: which rank does what for a given world size — every rank's
// coordinates, every process group Megatron-Core would build, in its order, and the layers each
// pipeline stage (and virtual stage) holds, as training splits them. Pure arithmetic: no MPI, no
// processes started.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/overrides_option.hpp"
#include "config/resolved_config.hpp"
#include "parallel/pipeline_layout.hpp"
#include "parallel/process_groups.hpp"

namespace primus::cli {

namespace {

struct LayoutOptions {
  std::string config;
  std::string format = "text";
  int64_t world_size = 1;
};

std::string groups_text(const parallel::RankGroups& groups) {
  std::string out;
  for (const auto& g : groups) {
    out += out.empty() ? "[" : " [";
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(g[i]);
    }
    out += "]";
  }
  return out;
}

std::string stage_text(const parallel::StageLayers& s) {
  std::string out;
  if (s.embedding) out += "embedding, ";
  out += s.num_layers == 0 ? "no decoder layers"
                           : s.num_layers == 1 ? fmt::format("decoder layer {}", s.first_layer)
                                               : fmt::format("decoder layers {}-{}", s.first_layer,
                                                             s.first_layer + s.num_layers - 1);
  if (s.loss) out += ", final norm, output layer and loss";
  if (s.mtp_layers > 0) out += fmt::format(", {} MTP layer{}", s.mtp_layers, s.mtp_layers > 1 ? "s" : "");
  return out;
}

std::string format_json(const parallel::ProcessGroups& layout, const parallel::PipelineSplit& split) {
  nlohmann::ordered_json j;
  j["world_size"] = layout.world_size();
  j["order"] = layout.sizes().order();
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (int r = 0; r < layout.world_size(); ++r) {
    const parallel::RankCoordinates c = layout.coordinates(r);
    ranks.push_back(nlohmann::ordered_json{{"rank", c.rank}, {"tp", c.tp}, {"cp", c.cp}, {"dp", c.dp}, {"pp", c.pp},
                                           {"ep", c.ep}, {"expert_tp", c.expert_tp}, {"expert_dp", c.expert_dp}});
  }
  j["ranks"] = std::move(ranks);
  nlohmann::ordered_json groups = nlohmann::ordered_json::object();
  for (parallel::GroupKind k : parallel::all_group_kinds())
    groups[std::string(parallel::group_name(k))] = layout.groups(k);
  j["groups"] = std::move(groups);
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (std::int64_t v = 0; v < split.virtual_stages(); ++v)
    for (std::int64_t p = 0; p < split.pp(); ++p) {
      const parallel::StageLayers& st = split.stage(p, v);
      stages.push_back(nlohmann::ordered_json{{"pp", p}, {"chunk", v}, {"first_layer", st.first_layer},
                                              {"num_layers", st.num_layers}, {"embedding", st.embedding},
                                              {"loss", st.loss}, {"mtp_layers", st.mtp_layers}});
    }
  j["pipeline_stages"] = std::move(stages);
  return j.dump() + "\n";
}

std::string format_text(const parallel::ProcessGroups& layout, const parallel::PipelineSplit& split) {
  const parallel::ParallelSizes& s = layout.sizes();
  std::string out = fmt::format(
      "world size {} = tensor {} × context {} × data {} × pipeline {} (order {}); experts: expert tensor {} × expert "
      "{} × expert data {} × pipeline {}\n\n",
      s.world, s.tp, s.cp, s.dp(), s.pp, s.order(), s.etp, s.ep, s.edp(), s.pp);
  out += fmt::format("{:>6} {:>4} {:>4} {:>4} {:>4} {:>4} {:>9} {:>9}\n", "rank", "tp", "cp", "dp", "pp", "ep",
                     "expert_tp", "expert_dp");
  for (int r = 0; r < layout.world_size(); ++r) {
    const parallel::RankCoordinates c = layout.coordinates(r);
    out += fmt::format("{:>6} {:>4} {:>4} {:>4} {:>4} {:>4} {:>9} {:>9}\n", c.rank, c.tp, c.cp, c.dp, c.pp, c.ep,
                       c.expert_tp, c.expert_dp);
  }
  out += "\ngroups (Megatron-Core's creation order; ranks in group order):\n";
  for (parallel::GroupKind k : parallel::all_group_kinds())
    out += fmt::format("  {:<18} {}\n", parallel::group_name(k), groups_text(layout.groups(k)));
  out += "\npipeline stages (in the order activations flow; layers numbered from 0):\n";
  for (std::int64_t v = 0; v < split.virtual_stages(); ++v)
    for (std::int64_t p = 0; p < split.pp(); ++p)
      out += fmt::format("  pp {}{}: {}\n", p, split.virtual_stages() > 1 ? fmt::format(" chunk {}", v) : "",
                         stage_text(split.stage(p, v)));
  return out;
}

}  // namespace

void register_parallel_command(CLI::App& app) {
  auto* parallel = app.add_subcommand("parallel", "Inspect parallel layouts");
  parallel->require_subcommand(1);
  auto opts = std::make_shared<LayoutOptions>();
  auto* layout = parallel->add_subcommand(
      "layout",
      "Show which rank does what for a world size: every rank's tensor/context/data/pipeline/expert coordinates and "
      "every process group Megatron-Core builds, in its order (tp-cp-ep-dp-pp, or tp-cp-ep-pp-dp with "
      "use_tp_pp_dp_mapping), and the layers of every pipeline stage");
  layout->add_option("--config", opts->config, "Experiment YAML file")->required();
  layout->add_option("--world-size", opts->world_size, "Number of processes")->required()->check(CLI::PositiveNumber);
  layout->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}));
  allow_overrides(*layout);
  layout->callback([opts, layout] {
    config::ResolveOptions ro;
    ro.config = opts->config;
    ro.overrides = collect_overrides(*layout);
    ro.world_size = opts->world_size;
    config::ResolvedConfig resolved = config::resolve(ro);
    report_notes(resolved);
    const config::Args& a = resolved.args;
    parallel::ProcessGroups groups(parallel::ParallelSizes::from_args(a), parallel::EmbeddingPlacement::from_args(a));
    const parallel::PipelineSplit split(parallel::PipelineSplitOptions::from_args(a));
    const std::string text = opts->format == "json" ? format_json(groups, split) : format_text(groups, split);
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace primus::cli
