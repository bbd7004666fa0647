// /proc/<pid>/stat parsing (text in, value out).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

// Field 22, starttime: clock ticks after boot when the process started.
// The comm field (2) is in parentheses and may itself contain spaces and ')',
// so fields are counted from the last ')'.
absl::StatusOr<uint64_t> ParseProcStatStartTime(std::string_view stat_text);

}  // namespace diskidle
