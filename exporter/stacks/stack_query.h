// What GET /debug/stacks asks for, parsed from its query parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace diskidle {

struct StackQuery {
  uint32_t pid = 0;           // a process (tgid); 0 when `comm` is given instead
  std::string comm;           // every process of that name (as the comm label shows it)
  std::string device;         // a whole disk as in /sys/block ("sda", "loop0"); "": any
  std::optional<uint8_t> op;  // enum diskidle_op; nullopt: any
  absl::Duration duration = absl::Seconds(10);
};

inline constexpr int kMaxStackSeconds = 60;

// pid=<tgid> or comm=<name> (exactly one), optional device=, op= (read,
// write, flush, discard, write_zeroes, other) and seconds= (1..60, default
// 10). Any problem is InvalidArgument with a one-line reason.
absl::StatusOr<StackQuery> ParseStackQuery(
    const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace diskidle
