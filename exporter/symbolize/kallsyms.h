// Kernel addresses to function names, from /proc/kallsyms text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diskidle {

class KernelSymbols {
 public:
  // Parses /proc/kallsyms text ("ffffffff81000000 T _stext", "... t name\t[module]"). Only
  // text symbols (t, T, w, W) are kept. When the kernel hides addresses from
  // us (kptr_restrict: every address 0), the table is empty.
  static KernelSymbols Parse(std::string_view kallsyms_text);

  // The function containing `address`: the last symbol at or below it, or
  // nullopt below the first symbol or beyond the last one's end marker.
  std::optional<std::string_view> Name(uint64_t address) const;

  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint64_t address;
    std::string name;
  };
  std::vector<Symbol> symbols_;  // sorted by address
};

}  // namespace diskidle
