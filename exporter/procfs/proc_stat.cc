#include "procfs/proc_stat.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace diskidle {

absl::StatusOr<uint64_t> ParseProcStatStartTime(std::string_view stat_text) {
  size_t close = stat_text.rfind(')');
  if (close == std::string_view::npos) {
    return absl::InvalidArgumentError("stat: no ')' after comm");
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat_text.data() + close + 1, stat_text.size() - close - 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 is fields[19].
  constexpr size_t kStartTimeIndex = 22 - 3;
  if (fields.size() <= kStartTimeIndex) {
    return absl::InvalidArgumentError("stat: fewer than 22 fields");
  }
  uint64_t start = 0;
  if (!absl::SimpleAtoi(fields[kStartTimeIndex], &start)) {
    return absl::InvalidArgumentError("stat: starttime is not a number");
  }
  return start;
}

}  // namespace diskidle
