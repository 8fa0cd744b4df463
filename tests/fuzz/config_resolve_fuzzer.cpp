// libFuzzer entry point of the config_resolve target (config_resolve_target.hpp).
#include "config_resolve_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::config_resolve(data, size);
  return 0;
}
