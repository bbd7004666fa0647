// libFuzzer target: /proc/<pid>/stat and /proc/stat parsing never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "procfs/proc_stat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)diskidle::ParseProcStat(text);
  (void)diskidle::ParseBootTime(text);
  return 0;
}
