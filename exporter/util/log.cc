#include "util/log.h"

#include <cstdio>
#include <mutex>
#include <string>

#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace diskidle {
namespace {

void Log(absl::string_view level, absl::string_view message) {
  static std::mutex mu;
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string escaped = absl::StrReplaceAll(message, {{"\\", "\\\\"}, {"\"", "\\\""}});
  std::lock_guard<std::mutex> lock(mu);
  fprintf(stderr, "ts=%s level=%.*s msg=\"%s\"\n", ts.c_str(), static_cast<int>(level.size()),
          level.data(), escaped.c_str());
}

}  // namespace

void LogInfo(absl::string_view message) { Log("info", message); }
void LogWarning(absl::string_view message) { Log("warn", message); }
void LogError(absl::string_view message) { Log("error", message); }

}  // namespace diskidle
