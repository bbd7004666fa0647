// libFuzzer target: config parsing never crashes; an accepted config dumps to YAML
// that parses back to the same config; errors stay one line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<diskidle::Config> config = diskidle::ParseConfig(text, "fuzz");
  if (!config.ok()) {
    std::string message(config.status().message());
    if (message.rfind("fuzz", 0) != 0 || message.find('\n') != std::string::npos) {
      fprintf(stderr, "bad error message: %s\n", message.c_str());
      abort();
    }
    return 0;
  }
  std::string dump = diskidle::DumpConfig(*config);
  absl::StatusOr<diskidle::Config> again = diskidle::ParseConfig(dump, "dump");
  if (!again.ok()) {
    fprintf(stderr, "dump does not parse: %s\n%s\n", std::string(again.status().message()).c_str(),
            dump.c_str());
    abort();
  }
  if (diskidle::DumpConfig(*again) != dump) {
    fprintf(stderr, "dump does not round-trip:\n%s\n---\n%s\n", dump.c_str(),
            diskidle::DumpConfig(*again).c_str());
    abort();
  }
  return 0;
}
