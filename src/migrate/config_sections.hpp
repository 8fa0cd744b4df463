// Where a key goes in a written experiment: the sections users know from the example files
// (log, training, optimizer, parallelism, data, evaluation, checkpoints, model), so a migrated
// file reads like a hand-written one.
#pragma once

#include <string>

namespace primus::migrate {

enum class Section { kLog, kTraining, kOptimizer, kParallelism, kData, kEvaluation, kCheckpoints, kModel, kOther };

inline constexpr Section kAllSections[] = {Section::kModel,      Section::kLog,        Section::kTraining,
                                           Section::kOptimizer,  Section::kParallelism, Section::kData,
                                           Section::kEvaluation, Section::kCheckpoints, Section::kOther};

Section section_of(const std::string& key);
const char* section_title(Section section);

}  // namespace primus::migrate
