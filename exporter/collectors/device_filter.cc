#include "collectors/device_filter.h"

#include "absl/strings/str_cat.h"

namespace diskidle {

absl::StatusOr<DeviceFilter> DeviceFilter::Make(const std::string& include,
                                                const std::string& exclude) {
  DeviceFilter filter;
  // ParseConfig validated the regexes; a config built in code may still carry a bad one.
  try {
    if (!include.empty()) filter.include_.emplace(include, std::regex::ECMAScript);
    if (!exclude.empty()) filter.exclude_.emplace(exclude, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad device regex: ", e.what()));
  }
  return filter;
}

bool DeviceFilter::Selected(const std::string& device) const {
  if (include_ && !std::regex_match(device, *include_)) return false;
  if (exclude_ && std::regex_match(device, *exclude_)) return false;
  return true;
}

}  // namespace diskidle
