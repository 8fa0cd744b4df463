// Python's `json.dumps(obj, indent=4)` for the values Megatron puts in its dataset descriptions
// (ordered dicts, lists, strings, ints, floats, bools, null). The MD5 of that text names the
// index cache files, so the text must match Python's byte for byte: ", " / ": " separators,
// ensure_ascii escapes, float repr (shortest round-trip, "1e-05" style), "[]" for empty lists.
// Hand-written: nlohmann::json's dump differs in all of these details.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace primus::data {

// Python's repr() of a float (what json.dumps prints).
std::string python_float_repr(double value);
// json.dumps(value, indent=4) of an nlohmann::ordered_json value.
std::string python_json_dumps(const nlohmann::ordered_json& value);

}  // namespace primus::data
