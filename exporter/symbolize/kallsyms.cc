#include "symbolize/kallsyms.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace diskidle {

KernelSymbols KernelSymbols::Parse(std::string_view kallsyms_text) {
  KernelSymbols table;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(kallsyms_text.data(), kallsyms_text.size()), '\n')) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 3 || fields[1].size() != 1) continue;
    const char type = fields[1][0];
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    uint64_t address = 0;
    if (!absl::SimpleHexAtoi(fields[0], &address) || address == 0) continue;
    table.symbols_.push_back({address, std::string(fields[2])});
  }
  // kallsyms is sorted for vmlinux but modules follow in load order.
  std::stable_sort(table.symbols_.begin(), table.symbols_.end(),
                   [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  return table;
}

std::optional<std::string_view> KernelSymbols::Name(uint64_t address) const {
  // The first symbol above the address; the one before it contains it.
  auto above = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                                [](uint64_t a, const Symbol& s) { return a < s.address; });
  if (above == symbols_.begin()) return std::nullopt;
  // Past the last symbol is no function we know (kallsyms ends with markers
  // such as _etext, which would otherwise swallow every later address).
  if (above == symbols_.end()) return std::nullopt;
  return std::string_view(std::prev(above)->name);
}

}  // namespace diskidle
