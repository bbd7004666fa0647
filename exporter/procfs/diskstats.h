// /proc/diskstats parsing: text in, structs out (no file access here).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diskidle {

// One line of /proc/diskstats (Documentation/admin-guide/iostats.rst).
// Kernels print 14 fields (< 4.18), 18 (4.18+, discards) or 20 (5.5+, flushes);
// fields a kernel does not print stay 0 and field_count says which exist.
struct DiskStats {
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string name;
  int field_count = 0;  // 14, 18 or 20 (including major, minor, name)

  uint64_t reads_completed = 0;
  uint64_t reads_merged = 0;
  uint64_t sectors_read = 0;  // always 512-byte units
  uint64_t read_time_ms = 0;
  uint64_t writes_completed = 0;
  uint64_t writes_merged = 0;
  uint64_t sectors_written = 0;
  uint64_t write_time_ms = 0;
  uint64_t ios_in_progress = 0;
  uint64_t io_time_ms = 0;  // "io_ticks": wall time with >= 1 request in flight
  uint64_t weighted_io_time_ms = 0;
  // 18+ fields
  uint64_t discards_completed = 0;
  uint64_t discards_merged = 0;
  uint64_t sectors_discarded = 0;
  uint64_t discard_time_ms = 0;
  // 20 fields
  uint64_t flush_requests = 0;
  uint64_t flush_time_ms = 0;
};

struct DiskstatsParseResult {
  std::vector<DiskStats> disks;
  // One message per malformed line (e.g. "line 3: expected 14, 18 or 20 fields, got 9");
  // malformed lines are skipped, the rest still parse.
  std::vector<std::string> errors;
};

DiskstatsParseResult ParseDiskstats(std::string_view text);

}  // namespace diskidle
