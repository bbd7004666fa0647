// Symbols of JIT-compiled code, from /tmp/perf-<pid>.map text: one
// "START SIZE name" line per function, hexadecimal, written by the JIT itself
// (Node --perf-basic-prof, Java with perf-map-agent, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diskidle {

class PerfMap {
 public:
  static PerfMap Parse(std::string_view text);
  // The function whose [start, start + size) holds `address`. A JIT may
  // reuse an address range: of the entries that hold it, the one starting
  // highest wins, and of those starting at the same address the last written.
  std::optional<std::string_view> Name(uint64_t address) const;
  bool empty() const { return symbols_.empty(); }

 private:
  struct Symbol {
    uint64_t start;
    uint64_t size;
    std::string name;
  };
  std::vector<Symbol> symbols_;  // sorted by start; later lines after earlier ones
};

}  // namespace diskidle
