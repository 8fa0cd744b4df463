#include "data/tokenizer/token_id.hpp"

#include "core/error.hpp"
#include "core/message_text.hpp"

namespace primus::data::tok {

std::int32_t token_id(const nlohmann::json& value, const std::string& file, std::string_view what) {
  if (!value.is_number_integer())
    fail("{}: the token id of {} must be an integer, got {}", file, printable(what, 40), printable(value.dump(), 40));
  const bool in_range = value.is_number_unsigned() ? value.get<std::uint64_t>() < std::uint64_t{kMaxTokenId}
                                                   : value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() < kMaxTokenId;
  if (!in_range)
    fail("{}: token id {} of {} is outside [0, {}) (the largest vocabulary this reader accepts)", file, value.dump(),
         printable(what, 40), kMaxTokenId);
  return static_cast<std::int32_t>(value.get<std::int64_t>());
}

}  // namespace primus::data::tok
