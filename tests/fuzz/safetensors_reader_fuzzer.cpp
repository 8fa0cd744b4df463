// libFuzzer entry point of the safetensors_reader target (safetensors_reader_target.hpp).
#include "safetensors_reader_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::safetensors_reader(data, size);
  return 0;
}
