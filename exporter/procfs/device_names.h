// Names of whole disks by device number, as /proc/diskstats shows them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace diskidle {

class DeviceNames {
 public:
  // Learns major:minor -> name from /proc/diskstats text. Names of devices
  // that disappear are kept, so counts of a detached loop device keep their label.
  void Update(std::string_view diskstats_text);

  // `dev` is the kernel encoding major << 20 | minor (bio_key.dev). Unknown
  // devices are named "unknown:<major>:<minor>".
  std::string Name(uint32_t dev) const;

 private:
  std::map<uint32_t, std::string> names_;
};

}  // namespace diskidle
