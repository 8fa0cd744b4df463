#include "cli/number_options.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::cli {

std::int64_t parse_positive_integer(std::string_view flag, const std::string& text, std::int64_t max) {
  std::int64_t value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (!text.empty() && text.front() == '+') ++begin;
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  const bool digits = begin != end && ptr == end;
  if (digits && ec == std::errc::result_out_of_range)
    fail("{} {} is too large (at most {})", flag, printable(text, 40), max);
  if (!digits || ec != std::errc() || value < 1) fail("{} must be a positive integer, got '{}'", flag, printable(text, 40));
  if (value > max) fail("{} {} is too large (at most {})", flag, value, max);
  return value;
}

double parse_positive_seconds(std::string_view flag, const std::string& text, double max) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  const bool number = !text.empty() && end == text.c_str() + text.size();
  if (!number || !std::isfinite(value) || value <= 0)
    fail("{} must be a finite positive number of seconds, got '{}'", flag, printable(text, 40));
  if (value > max) fail("{} {} is too long (at most {} seconds)", flag, printable(text, 40), max);
  return value;
}

CLI::Option* add_positive_seconds_option(CLI::App* command, const std::string& name, double& target,
                                         const std::string& help, double max) {
  const std::string flag = name.substr(0, name.find(','));
  return command
      ->add_option_function<std::string>(
          name, [&target, flag, max](const std::string& text) { target = parse_positive_seconds(flag, text, max); },
          help)
      ->type_name("SECONDS");
}

}  // namespace primus::cli
