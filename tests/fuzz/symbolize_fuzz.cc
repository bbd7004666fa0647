// libFuzzer target: the symbolizer's parsers (an ELF image, /proc/kallsyms,
// /proc/<pid>/maps, /tmp/perf-<pid>.map) never crash or read out of bounds,
// and lookups on whatever they parsed stay safe.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "symbolize/elf_symbols.h"
#include "symbolize/kallsyms.h"
#include "symbolize/perf_map.h"
#include "symbolize/proc_maps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t probe = size;  // an address to look up: the input's first 8 bytes
  if (size >= sizeof(probe)) memcpy(&probe, data, sizeof(probe));
  if (auto elf = diskidle::ElfSymbols::Parse(text); elf.ok()) {
    (void)elf->Name(probe);
    (void)elf->VaddrOfFileOffset(probe);
  }
  (void)diskidle::KernelSymbols::Parse(text).Name(probe);
  auto maps = diskidle::ParseProcMaps(text);
  (void)diskidle::FindMapping(maps, probe);
  (void)diskidle::PerfMap::Parse(text).Name(probe);
  return 0;
}
