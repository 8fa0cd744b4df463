// "did you mean ...?" suggestions for misspelt keys, files and choices.
#pragma once

#include <string>
#include <vector>

namespace primus::config {

// Up to `limit` candidates closest to `word` by edit distance (ties by name), only those close
// enough to be a plausible typo.
std::vector<std::string> closest_names(const std::string& word, const std::vector<std::string>& candidates,
                                       size_t limit = 3);

// "; did you mean 'a' or 'b'?" — empty when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace primus::config
