// Names of whole disks by device number, as /proc/diskstats shows them, and
// which of them have left /proc/diskstats (a detached loop device, an
// unplugged disk), so that their series can end.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace diskidle {

class DeviceNames {
 public:
  // Learns major:minor -> name from /proc/diskstats text read at `now`. Names
  // of devices that disappear are kept (counts of a detached loop device keep
  // their label) and marked gone from the first update that misses them; a
  // name that comes back is no longer gone.
  void Update(std::string_view diskstats_text, absl::Time now);

  // `dev` is the kernel encoding major << 20 | minor (bio_key.dev). Unknown
  // devices are named "unknown:<major>:<minor>".
  std::string Name(uint32_t dev) const;

  // Devices whose name has been gone for at least `ttl` at `now`, as (number,
  // name), each returned once; they are forgotten (a later bio to the number
  // reads as unknown:<major>:<minor>).
  std::vector<std::pair<uint32_t, std::string>> TakeGone(absl::Time now, absl::Duration ttl);

  // The names of TakeGone's result.
  static std::vector<std::string> NamesOf(
      const std::vector<std::pair<uint32_t, std::string>>& devices);

 private:
  std::map<uint32_t, std::string> names_;
  // Names missing from the latest text, with the time of the first text that
  // missed them.
  std::map<std::string, absl::Time> gone_since_;
};

}  // namespace diskidle
