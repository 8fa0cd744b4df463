// libFuzzer entry point of the checkpoint_metadata target (checkpoint_metadata_target.hpp).
#include "checkpoint_metadata_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::checkpoint_metadata(data, size);
  return 0;
}
