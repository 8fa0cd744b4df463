// User text inside error messages: a message is one readable line whatever a user (or a corrupt
// file) put into a value, a key or a path — bytes that are not UTF-8 and control characters are
// escaped, and long text is cut with its full length noted, so that a 10 MB value is never echoed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace primus {

// Longest piece of user text quoted in a message, in bytes of the original.
inline constexpr std::size_t kMessageValueLimit = 200;

// `text` made printable on one line: valid UTF-8 stays as is, other bytes and control characters
// become \xNN (\n, \t, \r as themselves escaped); longer than `limit` bytes, it is cut at a
// character boundary and "… (N bytes)" is appended.
std::string printable(std::string_view text, std::size_t limit = kMessageValueLimit);

// A whole error message made safe to print: printable() with a generous limit that keeps the
// start and the end (where the explanation is) of an overlong message.
std::string one_line_message(std::string_view message);

}  // namespace primus
