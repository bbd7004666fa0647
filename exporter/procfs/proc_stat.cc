#include "procfs/proc_stat.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace diskidle {

absl::StatusOr<ProcStat> ParseProcStat(std::string_view stat_text) {
  size_t close = stat_text.rfind(')');
  if (close == std::string_view::npos) {
    return absl::InvalidArgumentError("stat: no ')' after comm");
  }
  absl::string_view rest(stat_text.data() + close + 1, stat_text.size() - close - 1);
  std::vector<absl::string_view> fields = absl::StrSplit(rest, ' ', absl::SkipWhitespace());
  // fields[0] is field 3 (state).
  auto field = [&fields](size_t number, uint64_t* out) -> absl::Status {
    size_t index = number - 3;
    if (index >= fields.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stat: no field ", number));
    }
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(fields[index]), out)) {
      return absl::InvalidArgumentError(absl::StrCat("stat: field ", number, " is not a number"));
    }
    return absl::OkStatus();
  };
  ProcStat stat;
  for (auto [number, out] : {std::pair{14, &stat.utime_ticks}, std::pair{15, &stat.stime_ticks},
                             std::pair{22, &stat.starttime_ticks}, std::pair{23, &stat.vsize_bytes},
                             std::pair{24, &stat.rss_pages}}) {
    if (absl::Status s = field(number, out); !s.ok()) return s;
  }
  return stat;
}

absl::StatusOr<uint64_t> ParseBootTime(std::string_view proc_stat_text) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(proc_stat_text.data(), proc_stat_text.size()), '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      uint64_t btime = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &btime)) return btime;
      return absl::InvalidArgumentError("/proc/stat: btime is not a number");
    }
  }
  return absl::InvalidArgumentError("/proc/stat: no btime line");
}

}  // namespace diskidle
