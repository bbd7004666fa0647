// libFuzzer target: /proc/diskstats parsing never crashes, and what it accepts is sane.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "procfs/diskstats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  diskidle::DiskstatsParseResult result = diskidle::ParseDiskstats(text);
  for (const diskidle::DiskStats& disk : result.disks) {
    if (disk.field_count != 14 && disk.field_count != 18 && disk.field_count != 20) abort();
    if (disk.name.empty()) abort();
    // Fields a line did not have must stay zero.
    if (disk.field_count < 18 && (disk.discards_completed || disk.discard_time_ms)) abort();
    if (disk.field_count < 20 && (disk.flush_requests || disk.flush_time_ms)) abort();
  }
  for (const std::string& error : result.errors) {
    // Messages quote at most 32 bytes of a token, escaped: bounded and one line.
    if (error.empty() || error.size() > 400 || error.find('\n') != std::string::npos) {
      fprintf(stderr, "bad error message (%zu bytes): %s\n", error.size(), error.c_str());
      abort();
    }
  }
  return 0;
}
