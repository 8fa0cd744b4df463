// Loads a preset file together with its `bases:` / `extends:` chain: parents first, in order
// (a later parent wins over an earlier one), the file itself last. Missing parents and cycles are
// clear errors naming the file and line that refer to them.
#pragma once

#include <filesystem>
#include <string>

#include "config/layer.hpp"

namespace primus::config {

struct PresetRequest {
  std::string name;                       // as written: "llama3_8B.yaml" (".yaml" may be left out)
  std::filesystem::path referrer_dir;     // folder of the file that names it
  std::filesystem::path builtin_dir;      // built-in folder of this kind of file
  std::string referred_at;                // "experiment.yaml:7" for errors ("" for the top file)
  Origin::Kind kind = Origin::Kind::kPreset;
};

struct LoadedPreset {
  Layer layer;
  std::filesystem::path path;             // the file the request resolved to
};

LoadedPreset load_preset_chain(const PresetRequest& request);

}  // namespace primus::config
