#include "core/message_text.hpp"

#include <fmt/format.h>

namespace primus {

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when the bytes there are not
// one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n;
  unsigned cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) { n = 2; cp = b0 & 0x1Fu; }
  else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; cp = b0 & 0x0Fu; }
  else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; cp = b0 & 0x07u; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void append_escaped(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::size_t n = utf8_sequence(text, i);
    if (n == 1 && c >= 0x20 && c != 0x7F) {
      out += static_cast<char>(c);
    } else if (n > 1) {
      out.append(text.substr(i, n));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += fmt::format("\\x{:02X}", c);
    }
    i += n == 0 ? 1 : n;
  }
}

// Largest cut <= limit that does not split a UTF-8 sequence.
std::size_t boundary_at_or_before(std::string_view text, std::size_t limit) {
  std::size_t cut = std::min(limit, text.size());
  while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80 &&
         limit - cut < 4)
    --cut;
  return cut;
}

}  // namespace

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  if (text.size() <= limit) {
    append_escaped(out, text);
    return out;
  }
  append_escaped(out, text.substr(0, boundary_at_or_before(text, limit)));
  out += fmt::format("… ({} bytes)", text.size());
  return out;
}

std::string one_line_message(std::string_view message) {
  constexpr std::size_t kKeep = 1500;
  std::string out;
  if (message.size() <= 2 * kKeep + 100) {
    append_escaped(out, message);
    return out;
  }
  append_escaped(out, message.substr(0, boundary_at_or_before(message, kKeep)));
  out += fmt::format(" …[{} bytes cut]… ", message.size() - 2 * kKeep);
  std::size_t from = message.size() - kKeep;
  while (from < message.size() && (static_cast<unsigned char>(message[from]) & 0xC0) == 0x80) ++from;
  append_escaped(out, message.substr(from));
  return out;
}

}  // namespace primus
