// Maps the syscall number a bio was submitted under to the `syscall` label.
#pragma once

#include <cstdint>
#include <string_view>

namespace diskidle {

// The `syscall` label values, in documentation order.
inline constexpr std::string_view kSyscallClasses[] = {
    "write", "pwrite", "writev", "pwritev", "fsync", "fdatasync", "sync_file_range", "sync",
    "syncfs", "msync", "io_uring", "aio", "read", "other", "kernel", "writeback", "pagefault", "swap"};

// `nr` is bio_key.syscall_nr: a syscall number of the exporter's own
// architecture, or one of the DISKIDLE_SYSCALL_* markers from bpf/bio_stats.h.
// Unknown numbers are "other", never an error.
std::string_view ClassifySyscall(int32_t nr);

// The per-architecture tables, exposed so both are unit-tested on any host.
std::string_view ClassifySyscallX86_64(int32_t nr);
std::string_view ClassifySyscallArm64(int32_t nr);

}  // namespace diskidle
