// Function symbols of an ELF file (.symtab and .dynsym), read from its bytes
// with <elf.h>: enough to name the code at an address, and to find the
// separate debug file (.gnu_debuglink, build id) that a stripped library's
// full symbol table lives in. 64-bit little-endian files only (x86_64, arm64).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace diskidle {

class ElfSymbols {
 public:
  // Parses an ELF image held in memory; every offset is bounds-checked, so a
  // truncated or hostile file gives an error or fewer symbols, never a crash.
  static absl::StatusOr<ElfSymbols> Parse(std::string_view image);

  // The function at virtual address `vaddr` (as the file's symbols count
  // them), or nullopt outside every function.
  std::optional<std::string_view> Name(uint64_t vaddr) const;

  // The virtual address that file offset `offset` is loaded at, through the
  // PT_LOAD segments; nullopt when no segment maps it.
  std::optional<uint64_t> VaddrOfFileOffset(uint64_t offset) const;

  // Adds the symbols of a separate debug file of this one (same addresses).
  void Merge(const ElfSymbols& debug_file);

  const std::string& debuglink() const { return debuglink_; }  // "" if none
  const std::string& build_id() const { return build_id_; }    // hex, "" if none
  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint64_t address;
    uint64_t size;  // 0: unknown (hand-written assembly); runs to the next symbol
    int rank;       // lower is preferred at the same address: global, weak, local
    std::string name;
  };
  struct Segment {
    uint64_t offset;
    uint64_t vaddr;
    uint64_t size;
  };
  void Sort();

  std::vector<Symbol> symbols_;  // sorted by address, one per address
  std::vector<Segment> segments_;
  std::string debuglink_;
  std::string build_id_;
};

}  // namespace diskidle
