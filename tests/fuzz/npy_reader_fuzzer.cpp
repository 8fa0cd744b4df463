// libFuzzer entry point of the npy_reader target (npy_reader_target.hpp).
#include "npy_reader_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::npy_reader(data, size);
  return 0;
}
