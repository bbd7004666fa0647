// collectors.diskstats.device_include / device_exclude: which disks the
// diskstats collector and the page at / show.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace diskidle {

class DeviceFilter {
 public:
  // Regexes (ECMAScript, matching the whole name); empty: no condition.
  static absl::StatusOr<DeviceFilter> Make(const std::string& include, const std::string& exclude);
  bool Selected(const std::string& device) const;

 private:
  std::optional<std::regex> include_;  // nullopt: every device
  std::optional<std::regex> exclude_;
};

}  // namespace diskidle
