#include "util/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/label_text.h"

namespace diskidle {
namespace {

// Atomics: threads log while main may still be reading flags in tests.
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kLogfmt};

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// Inside double quotes, both formats escape the same two characters; the
// sanitizer already removed control characters and invalid UTF-8.
std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

void Log(LogLevel level, absl::string_view message) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  static std::mutex mu;
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line = FormatLogLine(g_format.load(std::memory_order_relaxed), ts, level, message);
  std::lock_guard<std::mutex> lock(mu);
  fputs(line.c_str(), stderr);
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LevelName(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--log.level: expected debug, info, warn or error, got \"", text, "\""));
}

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text) {
  if (text == "logfmt") return LogFormat::kLogfmt;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--log.format: expected logfmt or json, got \"", text, "\""));
}

void SetLogOptions(LogLevel level, LogFormat format) {
  g_level.store(level);
  g_format.store(format);
}

std::string FormatLogLine(LogFormat format, absl::string_view ts, LogLevel level,
                          absl::string_view message) {
  std::string msg = Quoted(SanitizeText(std::string_view(message.data(), message.size())));
  if (format == LogFormat::kJson) {
    return absl::StrCat("{\"ts\":\"", ts, "\",\"level\":\"", LevelName(level), "\",\"msg\":", msg,
                        "}\n");
  }
  return absl::StrCat("ts=", ts, " level=", LevelName(level), " msg=", msg, "\n");
}

void LogDebug(absl::string_view message) { Log(LogLevel::kDebug, message); }
void LogInfo(absl::string_view message) { Log(LogLevel::kInfo, message); }
void LogWarning(absl::string_view message) { Log(LogLevel::kWarn, message); }
void LogError(absl::string_view message) { Log(LogLevel::kError, message); }

}  // namespace diskidle
