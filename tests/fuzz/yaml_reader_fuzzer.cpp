// libFuzzer entry point of the yaml_reader target (yaml_reader_target.hpp).
#include "yaml_reader_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::yaml_reader(data, size);
  return 0;
}
