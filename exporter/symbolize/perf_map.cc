#include "symbolize/perf_map.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace diskidle {

PerfMap PerfMap::Parse(std::string_view text) {
  PerfMap map;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (fields.size() != 3) continue;
    Symbol s;
    if (!absl::SimpleHexAtoi(fields[0], &s.start) || !absl::SimpleHexAtoi(fields[1], &s.size)) {
      continue;
    }
    s.name = std::string(absl::StripTrailingAsciiWhitespace(fields[2]));
    if (s.size == 0 || s.name.empty()) continue;
    map.symbols_.push_back(std::move(s));
  }
  std::stable_sort(map.symbols_.begin(), map.symbols_.end(),
                   [](const Symbol& a, const Symbol& b) { return a.start < b.start; });
  return map;
}

std::optional<std::string_view> PerfMap::Name(uint64_t address) const {
  auto above = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                                [](uint64_t a, const Symbol& s) { return a < s.start; });
  // Walk back over entries starting at or below the address: the latest
  // written one covering it wins (entries are few per address in practice).
  for (auto it = above; it != symbols_.begin();) {
    --it;
    if (address - it->start < it->size) return std::string_view(it->name);
    if (address - it->start > (uint64_t{1} << 24)) break;  // far below: none covers it
  }
  return std::nullopt;
}

}  // namespace diskidle
