#include "procfs/device_names.h"

#include "absl/strings/str_cat.h"
#include "procfs/diskstats.h"

namespace diskidle {

void DeviceNames::Update(std::string_view diskstats_text) {
  for (const DiskStats& disk : ParseDiskstats(diskstats_text).disks) {
    names_[(disk.major << 20) | disk.minor] = disk.name;
  }
}

std::string DeviceNames::Name(uint32_t dev) const {
  auto it = names_.find(dev);
  if (it != names_.end()) return it->second;
  return absl::StrCat("unknown:", dev >> 20, ":", dev & 0xfffff);
}

}  // namespace diskidle
