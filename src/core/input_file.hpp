// Files a user names as input (experiments, presets, tokenizers, datasets, checkpoints, scripts):
// checked before they are opened, so that every problem is one line naming the path and what is
// wrong with it — not found, a folder, a device or pipe, a loop of symbolic links, not readable,
// larger than such a file can be — never a filesystem exception or a read that never ends.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace primus {

// What an input may be besides a regular file.
enum class InputKind {
  kRegularFile,        // an ordinary file (symbolic links to one are fine)
  kFileOrPipe,         // also a named pipe / process substitution (streamed inputs such as JSONL)
};

// Throws primus::Error "PATH: <what> not found" / "PATH: is a folder; the <what> must be a file" /
// "PATH: is a device; ..." / "PATH: loop of symbolic links; ..." / "PATH: cannot read the <what>:
// permission denied". `what` names the role without an article: "experiment file", "tokenizer file".
void check_input_file(const std::filesystem::path& path, std::string_view what,
                      InputKind kind = InputKind::kRegularFile);

// Reads a whole regular file of at most `max_bytes` after check_input_file(); a larger file is an
// error naming the limit.
std::string read_input_file(const std::filesystem::path& path, std::string_view what, std::uint64_t max_bytes);

// "PATH: <reason>" for an errno from opening or reading `path` (ENOENT, EISDIR, ELOOP, EACCES, ...).
std::string describe_file_error(const std::filesystem::path& path, int error, std::string_view what);

// A byte count for messages: "512 bytes", "3.4 MiB", "19.50 GiB".
std::string format_bytes(std::uint64_t bytes);

}  // namespace primus
