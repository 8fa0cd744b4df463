#include "migrate/migration_summary.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace primus::migrate {

std::string summarize(const MigrationRequest& request, const MigrationResult& r) {
  auto v = [&](const char* key) { return r.resolved.at(key).value; };
  auto i = [&](const char* key) { return v(key).is_null() ? int64_t(0) : v(key).as_int(); };
  std::string out;
  out += fmt::format("wrote      {}{}\n", r.experiment_file.string(),
                     r.preset_file ? " and " + r.preset_file->string() : "");
  out += fmt::format("proof      {}\n", r.proof.describe());
  out += fmt::format("model      {} ({})\n", r.model, r.match_explanation);
  if (!r.family_note.empty()) out += fmt::format("note       {}\n", r.family_note);
  if (!r.entry_point_note.empty()) out += fmt::format("entry      {}\n", r.entry_point_note);
  out += fmt::format("           {} layers, hidden {}, ffn {}, {} heads / {} query groups{}, seq {}\n", i("num_layers"),
                     i("hidden_size"), i("ffn_hidden_size"), i("num_attention_heads"), i("num_query_groups"),
                     v("num_experts").is_null() ? "" : fmt::format(", {} experts top-{}", i("num_experts"), i("moe_router_topk")),
                     i("seq_length"));
  out += fmt::format("layout     {}\n", request.launch.describe_layout());
  out += fmt::format("           TP {} x PP {} x CP {} x DP {}, EP {}, sequence parallel {}\n",
                     i("tensor_model_parallel_size"), i("pipeline_model_parallel_size"), i("context_parallel_size"),
                     i("data_parallel_size"), i("expert_model_parallel_size"), v("sequence_parallel").to_yaml());
  out += fmt::format("batches    micro {}, global {} -> {} micro-batches per step; {} iterations\n",
                     i("micro_batch_size"), i("global_batch_size"), i("num_micro_batches"),
                     v("train_iters").is_null() ? std::string("(samples)") : v("train_iters").to_yaml());
  std::string data = v("mock_data").as_bool() ? std::string("mock data (synthetic tokens)")
                     : !v("data_path").is_null() ? "data_path " + v("data_path").to_yaml() + ", split " + v("split").to_display()
                     : !v("train_data_path").is_null() ? "train_data_path " + v("train_data_path").to_yaml()
                                                       : std::string("none given");
  out += fmt::format("data       {}; tokenizer {} {}\n", data, v("tokenizer_type").to_display(),
                     v("tokenizer_model").to_display());
  if (!r.conversions.empty()) {
    std::string c;
    for (const auto& x : r.conversions) c += (c.empty() ? "" : ", ") + x;
    out += fmt::format("converted  {}\n", c);
  }
  if (!r.resolved.without_effect.empty()) {
    // What the script asked for that this engine ignores, apart from Megatron defaults kept for the proof.
    std::string asked;
    size_t defaults = 0;
    for (const auto& k : r.resolved.without_effect) {
      if (std::find(r.script_keys.begin(), r.script_keys.end(), k) == r.script_keys.end()) ++defaults;
      else asked += (asked.empty() ? "" : ", ") + k;
    }
    out += fmt::format("no effect  accepted, no effect on this engine: {}{}\n", asked.empty() ? "nothing the script set" : asked,
                       defaults ? fmt::format("; and {} Megatron-LM defaults kept for the proof (in the file's last section)", defaults)
                                : "");
  }
  if (!r.resolved.refused.empty()) {
    // Kept (the proof needs them), but a run with them is refused until the feature exists.
    std::string refused;
    for (const auto& x : r.resolved.refused) refused += (refused.empty() ? "" : "; ") + x;
    out += fmt::format("refused    `primus train` refuses this run until these exist: {}\n", refused);
  }
  if (!r.unknown.empty())
    out += fmt::format("unknown    kept only as comments, so NOT lossless (files written, exit status 1): {}\n",
                       describe_unknown(r.unknown));
  out += fmt::format("check      primus config show --config {} --world-size {}\n", r.experiment_file.string(),
                     r.world_size);
  return out;
}

}  // namespace primus::migrate
