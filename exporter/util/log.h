// Minimal logfmt logging to stderr (ts=... level=... msg="...").
#pragma once

#include "absl/strings/string_view.h"

namespace diskidle {

void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace diskidle
