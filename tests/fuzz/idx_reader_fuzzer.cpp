// libFuzzer entry point of the idx_reader target (idx_reader_target.hpp).
#include "idx_reader_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::idx_reader(data, size);
  return 0;
}
