// Fuzz target: the YAML configuration reader and the experiment-file reader (what every
// experiment, preset and override file goes through first), then typing of every override by
// the argument schema. Bounds under test: file size, nesting depth, alias expansion.
// Run by libFuzzer (yaml_reader_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>

#include "config/experiment_file.hpp"
#include "config/schema.hpp"
#include "config/yaml_reader.hpp"
#include "core/error.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void yaml_reader(const std::uint8_t* data, std::size_t size) {
  const auto path = primus::fuzz::write_input("experiment.yaml", data, size);
  try {
    primus::config::read_yaml_file(path);
    const auto experiment = primus::config::read_experiment_file(path);
    const auto& schema = primus::config::Schema::instance();
    bool unknown_seen = false;
    for (const auto& [key, setting] : experiment.overrides.settings()) {
      if (const auto* spec = schema.find(key)) {
        try {
          (void)schema.coerce(*spec, setting.value, setting.origin);
        } catch (const primus::Error&) {
        }
      } else if (!unknown_seen) {
        // Resolution stops at the first unknown key: only that one gets "did you mean".
        (void)schema.unknown_key_message(key);
        unknown_seen = true;
      }
    }
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
