// A Megatron flag list (what pretrain_gpt.py received) read through the one argument schema:
// each flag with the values that follow it is matched to its dest, with Megatron's semantics
// (store_true/store_false, --no-X/--disable-X, nargs lists, later flags winning). Flags the
// schema does not know are collected — all of them, not just the first — so the user sees the
// complete list at once.
#pragma once

#include <string>
#include <vector>

#include "config/layer.hpp"

namespace primus::migrate {

struct UnknownFlag {
  std::string flag;                 // "--use-fancy-kernel"
  std::vector<std::string> values;  // tokens that followed it
  std::string suggestion;           // "; did you mean '--use-flash-attn'?" or ""

  std::string text() const;         // "--use-fancy-kernel 3"
};

struct MegatronFlags {
  config::Layer layer;              // dest -> value, origin "command line (--flag ...)"
  std::vector<UnknownFlag> unknown;
};

MegatronFlags read_megatron_flags(const std::vector<std::string>& tokens);

// "--use-fancy-kernels, --hiden-size 256; did you mean '--hidden-size'?"
std::string describe_unknown(const std::vector<UnknownFlag>& unknown);

}  // namespace primus::migrate
