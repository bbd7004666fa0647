// libFuzzer target: web-config.yml parsing never crashes and errors stay one line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = diskidle::ParseWebSecurityConfig(text, "web.yml", "/etc/diskidle");
  if (!config.ok()) {
    std::string message(config.status().message());
    if (message.empty() || message.find('\n') != std::string::npos) {
      fprintf(stderr, "bad error message: %s\n", message.c_str());
      abort();
    }
  }
  return 0;
}
