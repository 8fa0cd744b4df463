#include "config/yaml_reader.hpp"

#include <fstream>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/env_substitution.hpp"
#include "core/error.hpp"

namespace primus::config {

const YamlEntry* YamlFile::find(const std::string& key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

namespace {

struct Flattener {
  const std::string& file;
  std::vector<YamlEntry>& out;
  std::set<std::string> seen;

  std::string where(const YAML::Node& n) const { return fmt::format("{}:{}", file, n.Mark().line + 1); }

  Value scalar(const YAML::Node& n, std::string* env) {
    std::string text = substitute_env(n.Scalar(), where(n), env);
    // Quoted scalars ("!" tag) stay text; plain scalars read as Primus reads them.
    if (n.Tag() == "!") return Value{text};
    return parse_plain_scalar(text);
  }

  Value sequence(const YAML::Node& n, std::string* env) {
    Value::List items;
    for (const auto& item : n) {
      if (item.IsScalar()) items.push_back(scalar(item, env));
      else if (item.IsSequence()) items.push_back(sequence(item, env));
      else if (item.IsNull()) items.emplace_back();
      else fail("{}: a list item here is a mapping; lists hold plain values only", where(item));
    }
    return Value{items};
  }

  void walk(const YAML::Node& map, const std::string& prefix) {
    for (const auto& pair : map) {
      // Copies: yaml-cpp's iterator yields proxies to temporaries.
      const YAML::Node k = pair.first;
      const YAML::Node v = pair.second;
      if (!k.IsScalar()) fail("{}: keys must be plain names", where(k));
      std::string key = prefix + substitute_env(k.Scalar(), where(k));
      if (!seen.insert(key).second) fail("{}: key '{}' appears twice in this file", where(k), key);
      if (v.IsMap()) {
        if (v.size() == 0) out.push_back({key, Value{}, k.Mark().line + 1, {}});
        else walk(v, key + ".");
        continue;
      }
      YamlEntry e{key, Value{}, k.Mark().line + 1, {}};
      if (v.IsScalar()) e.value = scalar(v, &e.env_var);
      else if (v.IsSequence()) e.value = sequence(v, &e.env_var);
      out.push_back(std::move(e));
    }
  }
};

}  // namespace

YamlFile read_yaml_file(const std::filesystem::path& path) {
  YamlFile file{path, {}};
  std::ifstream in(path);
  if (!in) fail("{}: cannot open file", path.string());
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: bad YAML: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (root.IsNull()) return file;  // an empty file sets nothing
  if (!root.IsMap()) fail("{}: the top level must be a mapping of keys to values", path.string());
  std::string name = path.string();
  Flattener f{name, file.entries, {}};
  try {
    f.walk(root, "");
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: bad YAML: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return file;
}

}  // namespace primus::config
