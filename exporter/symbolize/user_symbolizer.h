// Names user-space addresses of live (or recently exited) processes: the
// process's memory maps, the ELF symbols of the mapped files (plus their
// separate debug files when installed), and /tmp/perf-<pid>.map for JIT code.
// Maps must be captured while the process lives; names can be asked later.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "symbolize/elf_symbols.h"
#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"

namespace diskidle {

struct SymbolizerPaths {
  std::string procfs = "/proc";
  std::string debug_dir = "/usr/lib/debug";  // separate debug files
  std::string tmp_dir = "/tmp";              // where JITs write perf-<pid>.map
};

class UserSymbolizer {
 public:
  explicit UserSymbolizer(SymbolizerPaths paths) : paths_(std::move(paths)) {}

  // Reads the maps (and perf map) of `pid` now. A process that is gone keeps
  // what an earlier capture read. Returns false if nothing is known of it.
  bool Capture(uint32_t pid);

  // A frame name for `address` in process `pid`: a function name ("fsync",
  // demangled for C++), else "<file name>+0x<address in the file>", else
  // "[vdso]"/"[anon]"-style names of the mapping, else "[unknown]".
  std::string Name(uint32_t pid, uint64_t address);

 private:
  struct Process {
    std::vector<Mapping> mappings;
    PerfMap perf_map;
  };
  // Symbols of a mapped file, read once per collection (nullptr: unreadable).
  const ElfSymbols* Elf(uint32_t pid, const std::string& path);
  std::unique_ptr<ElfSymbols> LoadElf(uint32_t pid, const std::string& path) const;
  void AddDebugSymbols(const std::string& path, ElfSymbols& elf) const;

  SymbolizerPaths paths_;
  std::map<uint32_t, Process> processes_;
  std::map<std::string, std::unique_ptr<ElfSymbols>> elf_cache_;  // by path
};

// Parses the ELF file at `path` (mapped read-only, never read whole).
absl::StatusOr<ElfSymbols> ReadElfSymbols(const std::string& path);

}  // namespace diskidle
