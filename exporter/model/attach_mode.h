// How the bio program attaches to block:block_bio_queue (collectors.bio.attach),
// and how the syscall program attaches to the syscalls (collectors.syscalls.attach).
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

enum class SyscallAttachMode {
  kAuto,        // fentry/fexit, else the syscall tracepoints (with the reason in the log)
  kFentry,      // fentry/fexit on the syscall entry functions, or start-up fails
  kTracepoint,  // syscalls:sys_enter_*/sys_exit_*; fentry/fexit is not tried
};

// "auto", "fentry", "tracepoint": the config spelling.
const char* SyscallAttachModeName(SyscallAttachMode mode);

}  // namespace diskidle
