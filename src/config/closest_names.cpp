#include "config/closest_names.hpp"

#include <algorithm>

namespace primus::config {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      // Adjacent transposition counts as one edit (a common typo).
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], prev[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string normalise(std::string s) {
  std::replace(s.begin(), s.end(), '-', '_');
  while (!s.empty() && s.front() == '_') s.erase(s.begin());
  return s;
}

}  // namespace

std::vector<std::string> closest_names(const std::string& word, const std::vector<std::string>& candidates,
                                       size_t limit) {
  std::vector<std::pair<size_t, std::string>> scored;
  // Names are short; a long word is no typo of one (and would cost |word|·|name| per candidate).
  if (word.size() > 128) return {};
  std::string w = normalise(word);
  size_t budget = std::max<size_t>(2, w.size() / 3);
  for (const auto& c : candidates) {
    size_t d = edit_distance(w, normalise(c));
    // A candidate that contains the word (or vice versa) is also a good hint: "hidden" -> hidden_size.
    bool contains = w.size() >= 4 && (normalise(c).find(w) != std::string::npos);
    if (d <= budget || contains) scored.emplace_back(contains && d > budget ? budget + 1 : d, c);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (auto& [d, c] : scored) {
    if (out.size() == limit) break;
    out.push_back(c);
  }
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  auto names = closest_names(word, candidates);
  if (names.empty()) return "";
  std::string out = "; did you mean ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += (i + 1 == names.size()) ? " or " : ", ";
    out += "'" + names[i] + "'";
  }
  return out + "?";
}

}  // namespace primus::config
