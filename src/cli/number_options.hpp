// Numeric options of the `primus` commands, read in our words: "--world-size must be a positive
// integer, got 'abc'", "--timeout must be a finite positive number of seconds, got 'nan'" —
// never CLI11's "Value 0 not in range 0.000000 to 1797693…" — and with an upper bound, so that a
// value too large is refused rather than saturated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace primus::cli {

// An integer in [1, max] written in decimal; throws primus::Error naming `flag` otherwise.
std::int64_t parse_positive_integer(std::string_view flag, const std::string& text, std::int64_t max);
// A finite number of seconds in (0, max]; throws primus::Error naming `flag` otherwise.
double parse_positive_seconds(std::string_view flag, const std::string& text, double max);

// Options that store through the parsers above. `help` gets the bounds appended.
template <typename Int>
CLI::Option* add_positive_integer_option(CLI::App* command, const std::string& name, Int& target,
                                         const std::string& help, std::int64_t max) {
  const std::string flag = name.substr(0, name.find(','));
  return command
      ->add_option_function<std::string>(
          name, [&target, flag, max](const std::string& text) { target = static_cast<Int>(parse_positive_integer(flag, text, max)); },
          help)
      ->type_name("N");
}
CLI::Option* add_positive_seconds_option(CLI::App* command, const std::string& name, double& target,
                                         const std::string& help, double max);

}  // namespace primus::cli
