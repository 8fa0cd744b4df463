// Renders what a migration writes: an experiment in the upstream full form (run folder fields,
// modules.pre_trainer with config, model and overrides grouped into commented sections) and,
// when no zoo preset matches, a model preset naming its family base. Values are written in the
// YAML flow form the reader reads back to the same value.
#pragma once

#include <string>
#include <vector>

#include "config/value.hpp"

namespace primus::migrate {

struct OverrideEntry {
  std::string key;
  config::Value value;
  std::string comment;  // written after the value, "" for none
};

struct ExperimentText {
  std::vector<std::string> header;     // comment lines at the top
  std::string exp_name;
  std::string model;                   // "llama3.1_8B.yaml"
  std::vector<OverrideEntry> overrides;
  // Overrides that cannot affect the run as configured (inert_keys.hpp): written after the rest,
  // under one title line, so that the top of the file is the run.
  std::vector<OverrideEntry> inert;
  std::vector<std::string> trailing;   // comment lines closing the overrides (unknown flags)
};

struct PresetText {
  std::vector<std::string> header;
  std::string base;                    // "llama3_base.yaml"
  std::vector<OverrideEntry> keys;
};

std::string render_experiment(const ExperimentText& experiment);
std::string render_preset(const PresetText& preset);

}  // namespace primus::migrate
