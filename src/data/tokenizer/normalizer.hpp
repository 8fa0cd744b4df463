// tokenizer.json "normalizer": Sequence, Prepend, Replace (string or regex pattern), Strip,
// Lowercase (ASCII letters only: anything else is refused rather than guessed), and NFC/NFKC/NFD
// for text where they are the identity (no combining marks or compatibility characters).
// Anything else is a clear error naming the file and the normalizer type.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace primus::data::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr when the JSON is null.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, const std::string& file);

}  // namespace primus::data::tok
