// The memory mappings of a process, from /proc/<pid>/maps text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diskidle {

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;     // exclusive
  uint64_t offset = 0;  // file offset of `start`
  bool executable = false;
  uint64_t inode = 0;  // 0 for anonymous memory
  std::string path;    // "" (anonymous), a file, or "[heap]", "[vdso]", ...
};

// Lines that do not parse are skipped. Sorted by start, as the kernel writes them.
std::vector<Mapping> ParseProcMaps(std::string_view maps_text);

// The mapping containing `address`, or nullptr.
const Mapping* FindMapping(const std::vector<Mapping>& mappings, uint64_t address);

}  // namespace diskidle
