// The argument schema: every Megatron-LM argument and every Primus key, with type, defaults,
// command-line spellings, choices and whether this engine acts on it. Generated from the one
// table src/config/arguments.tsv (see tools/codegen/generate_schema.py), like the trainer YAML.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/origin.hpp"
#include "config/value.hpp"
#include "config/value_range.hpp"

namespace primus::config {

enum class ArgType { kBool, kInt, kFloat, kStr, kIntList, kFloatList, kStrList, kLayerFreq };

// One way to write an argument on a Megatron command line.
struct FlagSpelling {
  std::string flag;                  // "--disable-bias-linear"
  std::optional<bool> implied;       // store_true/store_false: the value the bare flag sets
};

struct ArgumentSpec {
  std::string key;
  ArgType type = ArgType::kStr;
  std::string type_name;             // as in the table: int, str_list, layer_freq, ...
  Value megatron_default;            // Megatron-LM's default (null for Primus-only keys)
  std::optional<Value> primus_default;  // upstream Primus' default where it differs
  std::string primus_file;           // trainer | model | experiment: which YAML sets it
  std::vector<FlagSpelling> flags;
  std::vector<std::string> choices;
  std::string range_text;            // the table's `range` cell ("[0, 1)", "[0, inf); <= lr")
  std::vector<RangeRule> range;      // parsed (config/value_range.hpp)
  std::string group;
  bool from_megatron = true;         // a Megatron-LM argument (false: a Primus key)
  bool acted_on = false;             // this engine uses it; otherwise "accepted, no effect here"
  std::optional<RangeCondition> acted_on_when;  // ...only when this holds (vocab_size: NullTokenizer)
  bool refused = false;              // changes results and is not built: train refuses a non-default value
  std::string note;

  bool is_list() const { return type == ArgType::kIntList || type == ArgType::kFloatList || type == ArgType::kStrList; }
  bool nullable() const;
  // The value a run gets when nothing sets it: Primus' default, else Megatron's.
  const Value& effective_default() const { return primus_default ? *primus_default : megatron_default; }
};

// A key that names another one (Megatron-LM's newer dests, fork spellings): setting it sets the
// canonical key, negated for an inverted boolean alias.
struct AliasSpec {
  std::string key;                   // "layernorm_epsilon"
  std::string target;                // "norm_epsilon"
  bool inverted = false;             // use_mamba_mem_eff_path = !disable_mamba_mem_eff_path
  bool megatron_dest = false;        // Megatron-LM reads this name (layernorm_epsilon), not the canonical one
  std::string note;
};

// A key as written, resolved to the argument it sets.
struct CanonicalKey {
  const ArgumentSpec* spec = nullptr;
  const AliasSpec* alias = nullptr;  // set when the key was an alias
};

// A command-line token matched to the schema.
struct FlagMatch {
  const ArgumentSpec* spec = nullptr;  // the argument it sets (an alias' canonical key)
  std::optional<bool> implied;         // set for store_true/store_false spellings
  const AliasSpec* alias = nullptr;    // set when the flag spells an alias key
};

class Schema {
 public:
  static const Schema& instance();

  const ArgumentSpec* find(const std::string& key) const;
  // `key` or an alias of it; spec is null for an unknown key.
  CanonicalKey canonical(const std::string& key) const;
  const std::vector<AliasSpec>& aliases() const { return aliases_; }
  // "--tensor-model-parallel-size", "--no-bias-swiglu-fusion", "--hidden_size", "--hidden-size".
  FlagMatch find_flag(const std::string& flag) const;
  const std::vector<ArgumentSpec>& all() const { return specs_; }
  const std::vector<std::string>& keys() const { return keys_; }

  // Converts a user's value to the key's type (e.g. "8" -> 8 for an int, 1 -> [1] for a list,
  // a list expression for a layer pattern), checking choices. Errors name `where` and the key.
  Value coerce(const ArgumentSpec& spec, const Value& value, const Origin& where) const;

  // "unknown key 'hiden_size' ...; did you mean 'hidden_size'?"
  std::string unknown_key_message(const std::string& key) const;

 private:
  Schema();
  std::vector<ArgumentSpec> specs_;
  std::vector<AliasSpec> aliases_;
  std::vector<std::string> keys_;                  // every key users may write (aliases too), sorted
  std::unordered_map<std::string, size_t> by_key_;
  std::unordered_map<std::string, size_t> alias_by_key_;
  std::unordered_map<std::string, FlagMatch> by_flag_;
};

const char* type_description(ArgType type);

// A key from its C++ identifier in the generated tables: keys of nested blocks are spelled with
// "__" there ("torch_compile__enable" is torch_compile.enable).
std::string key_of_identifier(const char* identifier);

}  // namespace primus::config
