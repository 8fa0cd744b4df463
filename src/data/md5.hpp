// MD5 (RFC 1321) hex digest. Megatron names its index cache files after the MD5 of a dataset's
// description; a 100-line implementation from the RFC avoids linking OpenSSL for one hash.
#pragma once

#include <string>
#include <string_view>

namespace primus::data {

std::string md5_hex(std::string_view bytes);

}  // namespace primus::data
