#include "procfs/device_names.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "procfs/diskstats.h"

namespace diskidle {

void DeviceNames::Update(std::string_view diskstats_text, absl::Time now) {
  std::set<std::string> present;
  for (const DiskStats& disk : ParseDiskstats(diskstats_text).disks) {
    names_[(disk.major << 20) | disk.minor] = disk.name;
    present.insert(disk.name);
  }
  // No disk at all is a broken read, not every disk unplugged at once.
  if (present.empty()) return;
  for (const auto& [dev, name] : names_) {
    if (present.contains(name)) {
      gone_since_.erase(name);
    } else {
      gone_since_.emplace(name, now);  // keeps the first time it was missed
    }
  }
}

std::string DeviceNames::Name(uint32_t dev) const {
  auto it = names_.find(dev);
  if (it != names_.end()) return it->second;
  return absl::StrCat("unknown:", dev >> 20, ":", dev & 0xfffff);
}

std::vector<std::pair<uint32_t, std::string>> DeviceNames::TakeGone(absl::Time now,
                                                                    absl::Duration ttl) {
  std::vector<std::pair<uint32_t, std::string>> gone;
  for (auto it = gone_since_.begin(); it != gone_since_.end();) {
    if (now - it->second < ttl) {
      ++it;
      continue;
    }
    std::erase_if(names_, [&it, &gone](const auto& entry) {
      if (entry.second != it->first) return false;
      gone.emplace_back(entry.first, entry.second);
      return true;
    });
    it = gone_since_.erase(it);
  }
  return gone;
}

std::vector<std::string> DeviceNames::NamesOf(
    const std::vector<std::pair<uint32_t, std::string>>& devices) {
  std::vector<std::string> names;
  for (const auto& [dev, name] : devices) names.push_back(name);
  return names;
}

}  // namespace diskidle
