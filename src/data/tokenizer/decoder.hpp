// tokenizer.json "decoder": Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace —
// applied, as in Hugging Face, to the list of token strings, which they may merge.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec, const std::string& file);

}  // namespace primus::data::tok
