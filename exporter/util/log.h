// Logging to stderr, one line per message, in the exporter-toolkit's two
// formats (what --log.format selects):
//   logfmt: ts=2026-11-30T17:45:13.123Z level=info msg="listening on ..."
//   json:   {"ts":"2026-11-30T17:45:13.123Z","level":"info","msg":"listening on ..."}
// Messages below the level set by --log.level are dropped.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diskidle {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kLogfmt, kJson };

// "debug", "info", "warn", "error" (the --log.level values).
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
// "logfmt", "json" (the --log.format values).
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text);

// Process-wide; set once in main before threads start. Default: info, logfmt.
void SetLogOptions(LogLevel level, LogFormat format);

// The line (with its trailing newline) that Log would write; exposed for tests.
// Message bytes pass through SanitizeText (invalid UTF-8 and control
// characters become `\xHH`), so a line is always one line of valid UTF-8, and
// in JSON `"` and `\` are escaped: every line is one valid JSON object.
std::string FormatLogLine(LogFormat format, absl::string_view ts, LogLevel level,
                          absl::string_view message);

void LogDebug(absl::string_view message);
void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace diskidle
