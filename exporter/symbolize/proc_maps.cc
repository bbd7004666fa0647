#include "symbolize/proc_maps.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace diskidle {

std::vector<Mapping> ParseProcMaps(std::string_view maps_text) {
  std::vector<Mapping> mappings;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(maps_text.data(), maps_text.size()), '\n')) {
    // start-end perms offset dev inode [path]; the path may contain spaces.
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(' ', 5));
    if (fields.size() < 5) continue;
    std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(fields[0], '-');
    Mapping m;
    if (!absl::SimpleHexAtoi(range.first, &m.start) || !absl::SimpleHexAtoi(range.second, &m.end) ||
        !absl::SimpleHexAtoi(fields[2], &m.offset) || !absl::SimpleAtoi(fields[4], &m.inode) ||
        fields[1].size() < 3 || m.end <= m.start) {
      continue;
    }
    m.executable = fields[1][2] == 'x';
    if (fields.size() == 6) m.path = std::string(absl::StripLeadingAsciiWhitespace(fields[5]));
    mappings.push_back(std::move(m));
  }
  return mappings;
}

const Mapping* FindMapping(const std::vector<Mapping>& mappings, uint64_t address) {
  auto above = std::upper_bound(mappings.begin(), mappings.end(), address,
                                [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (above == mappings.begin()) return nullptr;
  const Mapping& m = *std::prev(above);
  return address < m.end ? &m : nullptr;
}

}  // namespace diskidle
