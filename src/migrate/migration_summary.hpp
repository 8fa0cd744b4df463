// The short report printed after a migration: the files written, the proof, the model and its
// shape, the parallel layout, batch sizes, data, conversions and what has no effect here.
#pragma once

#include <string>

#include "migrate/migration.hpp"

namespace primus::migrate {

std::string summarize(const MigrationRequest& request, const MigrationResult& result);

}  // namespace primus::migrate
