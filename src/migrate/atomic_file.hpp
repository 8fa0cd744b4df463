// Files the migration writes (experiments, presets) appear whole or not at all: the text goes to
// a temporary file in the same folder, which is then renamed over the target. `durable` also
// flushes it to disk first (the files handed to the user); scratch files skip that.
#pragma once

#include <filesystem>
#include <string>

namespace primus::migrate {

void write_file_atomically(const std::filesystem::path& path, const std::string& text, bool durable = true);

}  // namespace primus::migrate
