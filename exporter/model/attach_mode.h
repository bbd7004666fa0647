// How the bio program attaches to block:block_bio_queue (collectors.bio.attach).
#pragma once

#include <optional>
#include <string_view>

namespace diskidle {

enum class AttachMode {
  kAuto,   // tp_btf when the kernel's BTF describes the tracepoint, else raw_tp
  kTpBtf,  // BTF-typed raw tracepoint: direct reads, cheapest
  kRawTp,  // raw tracepoint: reads through bpf_probe_read_kernel
};

// "auto", "tp_btf", "raw_tp": the config spelling (a C string: Debian's abseil
// has its own string_view, which std::string_view does not convert to).
const char* AttachModeName(AttachMode mode);

// The inverse of AttachModeName; nullopt for anything else.
std::optional<AttachMode> ParseAttachMode(std::string_view name);

}  // namespace diskidle
