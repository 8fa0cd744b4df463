// A folder a user names for outputs (--output, save, the run folder): created when missing, and
// every problem one line naming it — a file in its place, a loop of symbolic links, no permission.
#pragma once

#include <filesystem>
#include <string_view>

namespace primus {

// Creates `dir` (and its parents) when missing; throws primus::Error "DIR: <what> is a file, not a
// folder" / "DIR: cannot create the <what>: <reason>". `what` names the role: "output folder".
void prepare_output_folder(const std::filesystem::path& dir, std::string_view what);

}  // namespace primus
