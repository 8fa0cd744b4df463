// Minimal UTF-8 helpers for the tokenizers: decode one code point, encode one, and the GPT-2
// byte <-> printable-character table used by byte-level BPE (Llama 3, Qwen, DeepSeek).
// Hand-written: a few dozen lines, and the byte table is part of the tokenizer.json contract.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace primus::data::tok {

// Length of the UTF-8 sequence starting with byte `lead` (1 for invalid lead bytes).
inline std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 1;
}

// Decodes the code point at s[i] (advancing i); invalid bytes decode as themselves (0x80..0xff).
char32_t next_code_point(std::string_view s, std::size_t& i);
void append_utf8(std::string& out, char32_t cp);
// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// GPT-2's reversible byte -> character map: printable Latin-1 bytes map to themselves, the others
// to U+0100 onwards in byte order.
const std::array<std::string, 256>& byte_to_unicode();
// Inverse of byte_to_unicode(); returns -1 for characters outside the table.
int unicode_to_byte(char32_t cp);

}  // namespace primus::data::tok
