#include "config/env_substitution.hpp"

#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::config {

std::string substitute_env(const std::string& text, const std::string& where, std::string* used_env) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = text.find("${", pos);
    if (start == std::string::npos) break;
    size_t end = text.find('}', start);
    if (end == std::string::npos) fail("{}: unterminated '${{' in '{}'", where, printable(text));
    out += text.substr(pos, start - pos);
    std::string body = text.substr(start + 2, end - start - 2);
    size_t colon = body.find(':');
    std::string name = body.substr(0, colon);
    if (name.empty() || !(std::isalpha((unsigned char)name[0]) || name[0] == '_'))
      fail("{}: '${{{}}}' is not a variable reference (write ${{NAME}} or ${{NAME:default}})", where, printable(body));
    for (char c : name)
      if (!(std::isalnum((unsigned char)c) || c == '_'))
        fail("{}: '${{{}}}': variable names are letters, digits and '_'", where, printable(body));
    const char* env = std::getenv(name.c_str());
    if (env != nullptr) {
      out += env;
      if (used_env) *used_env += (used_env->empty() ? "" : ",") + name;
    } else if (colon != std::string::npos) {
      out += body.substr(colon + 1);
    } else {
      fail("{}: environment variable {} is not set (the file requires ${{{}}}); export it or write ${{{}:default}}",
           where, name, name, name);
    }
    pos = end + 1;
  }
  return out + text.substr(pos);
}

}  // namespace primus::config
