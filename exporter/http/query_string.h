// The query of a request URL ("pid=42&seconds=5") as decoded name/value pairs.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace diskidle::http {

// Splits on '&', then on the first '='; decodes %XX and '+' (a space) in
// names and values. A bad %-escape is an error naming it. Empty parts
// ("a=1&&b=2") are skipped.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQueryString(
    std::string_view query);

}  // namespace diskidle::http
