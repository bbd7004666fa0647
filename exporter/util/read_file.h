#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace diskidle {

// Reads a whole (proc/sys) file; the error names the path and errno text.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace diskidle
