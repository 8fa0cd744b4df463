// Where a configuration value came from — shown by `config show --explain` and named in every
// validation error, so a user can find the line to change.
#pragma once

#include <string>

namespace primus::config {

struct Origin {
  enum class Kind { kDefault, kPreset, kExperiment, kCommandLine, kDerived };
  Kind kind = Kind::kDefault;
  std::string file;     // YAML file (empty for command line / derived)
  int line = 0;         // 1-based; 0 when unknown
  std::string env_var;  // set when the value came from ${VAR} with VAR set in the environment
  std::string detail;   // derived: the rule; command line: the spelling used

  // "trainer_base.yaml:12", "llama3_8B.yaml:7 via $PRIMUS_TP", "command line (--tp 2)",
  // "derived (hidden_size / num_attention_heads)".
  std::string describe() const;
  // Short kind word for --explain: default, preset, experiment, command line, derived.
  std::string kind_name() const;
};

}  // namespace primus::config
