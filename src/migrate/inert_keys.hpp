// Keys whose value cannot change a run as it is configured: arguments this engine does not act
// on at all (wandb_*, local_rank, kernel choices), and settings of a feature the run does not use
// (YaRN values without rope_type yarn, latent-attention sizes without multi_latent_attention,
// router settings without experts). A migration still writes them — the proof compares every
// key — but in one trailing section, so that the top of the experiment is the run.
#pragma once

#include <string>

#include "config/resolved_config.hpp"

namespace primus::migrate {

// Why `key` cannot affect the run `resolved` describes ("no effect on this engine", "used only
// with multi_latent_attention", ...), or "" when it can.
std::string inert_reason(const std::string& key, const config::ResolvedConfig& resolved);

}  // namespace primus::migrate
