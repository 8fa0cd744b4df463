// Token ids as tokenizer.json writes them (model vocabulary, added tokens, post-processor ids):
// JSON integers in [0, kMaxTokenId). Ids index dense tables, so an id far beyond any real
// vocabulary (the largest are ~256k) would make those tables gigabytes; a float or an integer past
// int32 would reach nlohmann's get<int32_t>, whose conversion of it is undefined behaviour (found
// by the tokenizer_json fuzzer: 1.4e111 as an id).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

inline constexpr std::int32_t kMaxTokenId = 1 << 24;

// The id in `value`; throws primus::Error "FILE: token id ... of WHAT ..." otherwise.
std::int32_t token_id(const nlohmann::json& value, const std::string& file, std::string_view what);

}  // namespace primus::data::tok
