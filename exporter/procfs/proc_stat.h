// /proc/<pid>/stat and /proc/stat parsing (text in, values out).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

// The fields of /proc/<pid>/stat the exporter uses (proc(5) numbering).
struct ProcStat {
  uint64_t utime_ticks = 0;      // 14
  uint64_t stime_ticks = 0;      // 15
  uint64_t starttime_ticks = 0;  // 22: clock ticks after boot when the process started
  uint64_t vsize_bytes = 0;      // 23
  uint64_t rss_pages = 0;        // 24
};

// The comm field (2) is in parentheses and may itself contain spaces and ')',
// so fields are counted from the last ')'.
absl::StatusOr<ProcStat> ParseProcStat(std::string_view stat_text);

// "btime" of /proc/stat: boot time in seconds since the epoch.
absl::StatusOr<uint64_t> ParseBootTime(std::string_view proc_stat_text);

}  // namespace diskidle
