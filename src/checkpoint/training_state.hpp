// The parts of a checkpoint's metadata "state" that describe the run rather than its tensors:
//   "model":  the architecture's shape-defining settings (model_summary), compared on load so
//             that a checkpoint of another model is refused naming the setting that differs
//   "args":   every resolved argument, as `config show --format json` prints them
//   "layout": the parallel layout it was saved with (world size, TP, PP, CP, EP, DP, distributed
//             optimizer) — informational: any layout loads any checkpoint
// The trainer adds "training" (iteration counters, scheduler, optimizer) and per-rank "ranks"
// (RNG); see train/checkpointing.hpp.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "config/resolved_config.hpp"
#include "model/model_config.hpp"

namespace primus::checkpoint {

nlohmann::json model_summary(const config::Args& args, const model::ModelConfig& config);
nlohmann::json resolved_arguments(const config::ResolvedConfig& resolved);
nlohmann::json layout_summary(const config::Args& args);

// Compares a checkpoint's "model" with the experiment's; throws primus::Error "<where>: saved with
// num_layers 2 but the experiment has 4: a checkpoint of another model" at the first difference.
// Keys the checkpoint lacks are not compared.
void check_model_summary(const nlohmann::json& saved, const nlohmann::json& current, const std::string& where);

// "TP 2 × PP 1 × CP 1 × DP 4 (EP 1), distributed optimizer" — for logs and inspect.
std::string describe_layout(const nlohmann::json& layout);

}  // namespace primus::checkpoint
