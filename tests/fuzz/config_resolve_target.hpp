// Fuzz target: a whole experiment resolved as `config show` and `train` resolve it — trainer
// defaults, the model preset it names, its overrides, command-line overrides, typing, ranges,
// derived values (integer arithmetic under overflow checks) and every validation rule. The
// input is "<experiment YAML>\n--- cli\n<one command-line token per line>".
// Run by libFuzzer (config_resolve_fuzzer.cpp) and, over the seed corpus and past findings, by
// fuzz_regressions_test.cpp in every test run.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "config/resolved_config.hpp"
#include "core/error.hpp"
#include "fuzz_files.hpp"

namespace primus::fuzz {

inline void config_resolve(const std::uint8_t* data, std::size_t size) {
  const auto [yaml, cli] = primus::fuzz::split_input(data, size, "\n--- cli\n");
  const auto path = primus::fuzz::write_input("experiment.yaml", yaml.data(), yaml.size());
  primus::config::ResolveOptions options;
  options.config = path;
  std::istringstream lines{std::string(cli)};
  std::string token;
  std::int64_t world = 1;
  while (std::getline(lines, token)) {
    if (token.starts_with("world=")) {
      world = 0;
      for (char c : token.substr(6, 9))
        if (c >= '0' && c <= '9') world = world * 10 + (c - '0');
      continue;
    }
    options.overrides.push_back(token);
  }
  options.world_size = world;
  try {
    (void)primus::config::resolve(options);
  } catch (const primus::Error&) {
  }
}

}  // namespace primus::fuzz
