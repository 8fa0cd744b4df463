// libFuzzer entry point of the torch_checkpoint target (torch_checkpoint_target.hpp).
#include "torch_checkpoint_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  primus::fuzz::torch_checkpoint(data, size);
  return 0;
}
