// A layer of settings (trainer defaults, a preset chain, an experiment's overrides, the command
// line): flat keys to values with their origin. Layers merge deeply — a later layer replaces a
// key's value, and a nested map merges key by key (dotted keys keep that structure).
#pragma once

#include <map>
#include <string>

#include "config/origin.hpp"
#include "config/value.hpp"

namespace primus::config {

struct Setting {
  Value value;
  Origin origin;
};

class Layer {
 public:
  // Sets `key`, dropping anything the new value replaces: "a" replaces "a.x", "a.x" replaces "a".
  void set(const std::string& key, Setting setting);
  void merge_from(const Layer& later);
  const Setting* find(const std::string& key) const;
  const std::map<std::string, Setting>& settings() const { return settings_; }

 private:
  std::map<std::string, Setting> settings_;
};

}  // namespace primus::config
