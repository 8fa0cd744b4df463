// libFuzzer entry point of the tokenizer_json target (tokenizer_json_target.hpp).
#include "tokenizer_json_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::tokenizer_json(data, size);
  return 0;
}
